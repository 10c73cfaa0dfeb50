//! A scripted API server for reconcile tests that need no cluster: it answers exactly the requests a test
//! expects, in the order it expects them, and records any other request (answered 500) so the test fails
//! naming it. The e2e suite proves behaviour against a real API server; these pin the requests themselves.
use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// A check of a request's body, and what it checks (for the failure message).
type BodyCheck = (&'static str, Box<dyn Fn(&Value) -> bool + Send>);

/// One request the test expects, and the answer it gets.
pub struct Expect {
    method: &'static str,
    path: String,
    body: Option<BodyCheck>,
    status: u16,
    /// None: answer with the request's own body (what a create or an Event post returns).
    reply: Option<Value>,
}

impl Expect {
    pub fn get(path: &str, reply: Value) -> Self {
        Self::new("GET", path, 200, Some(reply))
    }
    pub fn patch(path: &str, reply: Value) -> Self {
        Self::new("PATCH", path, 200, Some(reply))
    }
    /// An Event posted about anything (cluster-scoped objects' Events go to the default namespace).
    pub fn event() -> Self {
        Self::new("POST", "/apis/events.k8s.io/v1/namespaces/default/events", 201, None)
    }
    /// An Event posted again: the recorder counts a repeat in the first one's series (any Event's name).
    pub fn event_repeated() -> Self {
        Self::new("PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/", 200, None)
    }
    /// Answers with the API server's Status for `code` (409 Conflict, 422 Invalid...).
    pub fn refuse(method: &'static str, path: &str, code: u16, reason: &str, message: &str) -> Self {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                            "reason": reason, "message": message});
        Self::new(method, path, code, Some(status))
    }
    fn new(method: &'static str, path: &str, status: u16, reply: Option<Value>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            status,
            reply,
        }
    }
    /// A path ending in `/` stands for any name in that collection.
    fn matches(&self, path: &str) -> bool {
        match self.path.strip_suffix('/') {
            Some(collection) => path.strip_prefix(collection).is_some_and(|name| name.len() > 1),
            None => self.path == path,
        }
    }
    /// The request body must satisfy `check` (`what` says what it checks).
    pub fn with_body(mut self, what: &'static str, check: impl Fn(&Value) -> bool + Send + 'static) -> Self {
        self.body = Some((what, Box::new(check)));
        self
    }
}

/// The script, and what was asked of it.
#[derive(Default)]
pub struct Script {
    expected: Mutex<VecDeque<Expect>>,
    /// Each request as "METHOD path", in order, and each deviation from the script.
    seen: Mutex<Vec<String>>,
    wrong: Mutex<Vec<String>>,
    bodies: Mutex<Vec<Value>>,
}

impl Script {
    pub fn new(expected: impl IntoIterator<Item = Expect>) -> Arc<Self> {
        Arc::new(Self {
            expected: Mutex::new(expected.into_iter().collect()),
            ..Default::default()
        })
    }

    /// Expects these next.
    pub fn then(&self, more: impl IntoIterator<Item = Expect>) {
        self.lock_expected().extend(more);
    }

    /// A client whose every request this script answers.
    pub fn client(self: &Arc<Self>) -> kube::Client {
        let script = self.clone();
        let service = tower::service_fn(move |req: Request<Body>| {
            let script = script.clone();
            async move { Ok::<_, Infallible>(script.answer(req).await) }
        });
        kube::Client::new(service, "default")
    }

    /// Fails unless every expected request came, in order, and nothing else did.
    pub fn verify(&self) {
        let wrong = self.wrong.lock().unwrap_or_else(|p| p.into_inner());
        let left: Vec<String> = self
            .lock_expected()
            .iter()
            .map(|e| format!("{} {}", e.method, e.path))
            .collect();
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        assert!(
            wrong.is_empty() && left.is_empty(),
            "requests off the script: {wrong:#?}\nexpected but never sent: {left:#?}\nall requests: {seen:#?}"
        );
    }

    /// The bodies of the requests so far, in order (JSON, or null).
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn lock_expected(&self) -> std::sync::MutexGuard<'_, VecDeque<Expect>> {
        self.expected.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn answer(&self, req: Request<Body>) -> Response<Body> {
        let (method, path) = (req.method().to_string(), req.uri().path().to_string());
        let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let line = format!("{method} {path}");
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(line.clone());
        self.bodies.lock().unwrap_or_else(|p| p.into_inner()).push(body.clone());
        let next = self.lock_expected().pop_front();
        let problem = match &next {
            None => Some(format!("{line}: not expected (the script had ended)")),
            Some(e) if e.method != method || !e.matches(&path) => {
                Some(format!("{line}: expected {} {} here", e.method, e.path))
            }
            Some(Expect {
                body: Some((what, check)),
                ..
            }) if !check(&body) => Some(format!("{line}: body does not satisfy \"{what}\": {body}")),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            self.wrong.lock().unwrap_or_else(|p| p.into_inner()).push(problem);
            return respond(
                500,
                &json!({"kind": "Status", "status": "Failure", "code": 500, "message": "off script"}),
            );
        }
        let e = next.expect("checked above");
        respond(e.status, e.reply.as_ref().unwrap_or(&body))
    }
}

fn respond(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap_or_default()))
        .unwrap_or_else(|_| Response::new(Body::from(Vec::new())))
}
