//! Every relative link in README.md, SECURITY.md and docs/ leads somewhere: the file exists and, for `#anchor`,
//! the page has that heading. The README was split into docs/ pages; a moved section must not leave a dead link.
use std::{
    fs,
    path::{Path, PathBuf},
};

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The headings of a Markdown page, outside code blocks, as anchors.
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of `[text](target)` links, outside code blocks and inline code.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let outside_code: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = outside_code.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md"), root.join("SECURITY.md")];
    let mut docs: Vec<_> = fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

#[test]
fn every_relative_link_leads_to_a_file_and_heading_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dead = Vec::new();
    let mut checked = 0;
    for page in pages(root) {
        let text = fs::read_to_string(&page).expect("page is readable");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("a page has a folder").join(file)
            };
            let shown = format!("{}: ({link})", page.strip_prefix(root).unwrap_or(&page).display());
            if !target.exists() {
                dead.push(format!("{shown}: no such file"));
            } else if !anchor.is_empty() {
                let text = fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&text).iter().any(|a| a == anchor) {
                    dead.push(format!("{shown}: no heading with that anchor"));
                }
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} relative links found: is the link parser still reading the pages?"
    );
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        slug(" Kubernetes versions, and the upstream objects drydock reads and writes"),
        "kubernetes-versions-and-the-upstream-objects-drydock-reads-and-writes"
    );
    assert_eq!(
        slug("Running the work itself: `spec.task`"),
        "running-the-work-itself-spectask"
    );
    assert_eq!(
        links("see [a](b.md#c) and `[x](y)` [d](https://e)"),
        ["b.md#c", "https://e"]
    );
}
