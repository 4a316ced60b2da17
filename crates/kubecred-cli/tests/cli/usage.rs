//! Argument errors exit 2; everything else is exit 0 or 1.

use crate::support::*;

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["get", "api"][..],
        &["get"][..],
        &["--source", "nowhere", "explain"][..],
        &["explain", "--output", "yaml"][..],
        &["--timeout", "0", "get", "/api"][..],
        &["--env-prefix", "", "explain"][..],
        &["--env-prefix", "_", "explain"][..],
        &["--env-prefix", "MY APP", "explain"][..],
        &["--env-prefix", "1KUBE", "explain"][..],
        &["frobnicate"][..],
    ] {
        let run = kubecred(args, &[]);
        run.assert_code(2);
        assert_eq!(run.stdout, "", "{run:#?}");
        assert!(!run.stderr.is_empty(), "{run:#?}");
    }
}
