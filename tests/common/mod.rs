//! What the property-test files share.
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// The same cases on every run, so `make unit` is reproducible; `PROPTEST_RNG_SEED=<n>` (or `random`) and
/// `PROPTEST_CASES=<n>` explore further, e.g. `PROPTEST_CASES=20000 cargo test --test planner_properties`.
pub const SEED: u64 = 0x0064_7279_646f_636b;

/// `cases` per property with the fixed seed unless the PROPTEST_* variables say otherwise; failing cases are
/// saved in `regressions` (a file under proptest-regressions/) and replayed first on every run.
pub fn config(cases: u32, regressions: &'static str) -> Config {
    let env = Config::default(); // the PROPTEST_* variables, applied
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            env.rng_seed
        } else {
            RngSeed::Fixed(SEED)
        },
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..env
    }
}
