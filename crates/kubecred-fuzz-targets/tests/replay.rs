//! Every committed corpus input of every fuzz target (`fuzz/corpus/<target>/`), run through
//! the target's one body on stable: a crash or leak found once stays fixed, and the no-secret
//! oracle sees every corpus input through every rendering in `cargo test`.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    inputs.sort();
    inputs
}

fn replay(target: &str) {
    let (_, body) = kubecred_fuzz_targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no target {target}"));
    let inputs = corpus(target);
    assert!(!inputs.is_empty(), "the corpus of {target} is empty");
    for input in inputs {
        let data = std::fs::read(&input).expect("a corpus input");
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(
            outcome.is_ok(),
            "{target} fails on {} (reproduce: cargo xtask fuzz {target} --input {})",
            input.display(),
            input.display()
        );
    }
}

#[test]
fn every_target_has_a_corpus_and_no_corpus_dir_lacks_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .expect("fuzz/corpus")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = kubecred_fuzz_targets::TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    targets.sort();
    assert_eq!(dirs, targets);
}

macro_rules! replays {
    ($($target:ident),* $(,)?) => {$(
        #[test]
        fn $target() {
            replay(stringify!($target));
        }
    )*};
}

replays!(
    explain_env,
    env_source,
    in_cluster,
    proxy_url,
    jwt,
    pem,
    kubeconfig,
    exec_credential,
);
