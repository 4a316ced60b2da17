//! The dependency graph's rules, over `cargo metadata` (ARCHITECTURE.md's invariants):
//!
//! - the core depends on no other workspace crate;
//! - a source ([`SOURCES`]) depends on the core only, among workspace crates;
//! - no production crate (every workspace crate but [`TEST_ONLY`]) depends on
//!   `kubecred-testing` but as a dev-dependency;
//! - only [`KUBE`] depends on kube-rs or k8s-openapi ([`KUBE_RS`]), in any kind of
//!   dependency (their build time stays out of every other crate), and among workspace crates
//!   it depends on `kubecred-client` only (and `kubecred-testing` as a dev-dependency).
//!
//! "Depends" means a normal (optional ones included) or a build dependency: dev-dependencies
//! only reach tests, examples and benchmarks.

use crate::workspace::{Kind, Package};

/// The API boundary: it knows no concrete source.
const CORE: &str = "kubecred-core";

/// The crates that read one place each; the kubeconfig source is checked once it exists.
const SOURCES: &[&str] = &[
    "kubecred-incluster",
    "kubecred-env",
    "kubecred-proxy",
    "kubecred-kubeconfig",
];

/// Sources that must exist (a rule over a crate that was renamed away checks nothing).
const REQUIRED: &[&str] = &[
    CORE,
    "kubecred-incluster",
    "kubecred-env",
    "kubecred-proxy",
    TESTING,
];

/// The stand-ins for tests.
const TESTING: &str = "kubecred-testing";

/// The packages that never ship: the stand-ins themselves, the tasks, the cross-crate tests,
/// the benchmarks and the fuzz targets' bodies.
const TEST_ONLY: &[&str] = &[
    TESTING,
    "xtask",
    "kubecred-tests",
    "kubecred-bench",
    "kubecred-fuzz-targets",
];

/// kube-rs's `Client` on kubecred: the one crate that may depend on [`KUBE_RS`].
const KUBE: &str = "kubecred-kube";

/// kube-rs's crates and k8s-openapi: minutes of build time on two cores.
const KUBE_RS: &[&str] = &[
    "kube",
    "kube-client",
    "kube-core",
    "kube-runtime",
    "kube-derive",
    "k8s-openapi",
];

/// The one workspace crate [`KUBE`] builds on.
const CLIENT: &str = "kubecred-client";

#[test]
fn the_dependency_graph_keeps_its_shape() {
    let packages = crate::workspace::packages().unwrap_or_else(|e| panic!("{e}"));
    let problems = check(&packages);
    assert!(
        problems.is_empty(),
        "{} dependency rule(s) broken:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Every broken rule, one sentence each naming the crate and the edge.
fn check(packages: &[Package]) -> Vec<String> {
    let in_workspace = |name: &str| packages.iter().any(|p| p.name == name);
    let mut problems = Vec::new();
    for required in REQUIRED {
        if !in_workspace(required) {
            problems.push(format!(
                "{required} is not a workspace package: the rules over it check nothing \
                 (renamed? update xtask/src/tidy/deps.rs)"
            ));
        }
    }
    for package in packages {
        let name = package.name.as_str();
        // Normal and build dependencies on workspace crates: what ships with `name`.
        let edges = package
            .dependencies
            .iter()
            .filter(|d| d.kind != Kind::Dev && in_workspace(&d.name));
        for dependency in edges {
            let edge = format!(
                "{name} has {} on {}",
                describe(dependency.kind),
                dependency.name
            );
            if name == CORE {
                problems.push(format!(
                    "{edge}: the core depends on no other workspace crate"
                ));
            } else if SOURCES.contains(&name) && dependency.name != CORE {
                problems.push(format!(
                    "{edge}: a source depends on {CORE} only, among workspace crates"
                ));
            } else if dependency.name == TESTING && !TEST_ONLY.contains(&name) {
                problems.push(format!(
                    "{edge}: a production crate may use {TESTING} only as a dev-dependency"
                ));
            }
        }
    }
    problems.extend(kube_rules(packages));
    problems
}

/// The rules over kube-rs: only [`KUBE`] depends on it, in any kind of dependency (a
/// dev-dependency builds it for `cargo test` too); [`KUBE`] depends on [`CLIENT`] only among
/// workspace crates, and on [`TESTING`] (whose non-dev edges the rule above names).
fn kube_rules(packages: &[Package]) -> Vec<String> {
    let in_workspace = |name: &str| packages.iter().any(|p| p.name == name);
    let mut problems = Vec::new();
    if !in_workspace(KUBE) {
        problems.push(format!(
            "{KUBE} is not a workspace package: the rules over it check nothing \
             (renamed? update xtask/src/tidy/deps.rs)"
        ));
    }
    for package in packages {
        let name = package.name.as_str();
        for dependency in &package.dependencies {
            let on = dependency.name.as_str();
            let edge = format!("{name} has {} on {on}", describe(dependency.kind));
            if KUBE_RS.contains(&on) && name != KUBE {
                problems.push(format!(
                    "{edge}: only {KUBE} may depend on kube-rs and k8s-openapi"
                ));
            } else if name == KUBE && in_workspace(on) && on != CLIENT && on != TESTING {
                problems.push(format!(
                    "{edge}: {KUBE} depends on {CLIENT} only among workspace crates \
                     ({TESTING} as a dev-dependency)"
                ));
            }
        }
    }
    problems
}

/// How a message names a dependency's kind.
fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Normal => "a normal dependency",
        Kind::Build => "a build dependency",
        Kind::Dev => "a dev-dependency",
    }
}

/// The rules themselves, on made-up graphs.
mod checks {
    use super::*;
    use crate::workspace::parse;
    use crate::workspace::tests::{metadata, Dependencies};

    /// The required packages, depending on the core where they may, plus `extra`.
    fn graph(extra: &[(&str, Dependencies<'_>)]) -> Vec<Package> {
        let core_only: Dependencies<'_> = &[(CORE, None), (TESTING, Some("dev"))];
        let mut all: Vec<(&str, Dependencies<'_>)> = vec![
            (CORE, &[(TESTING, Some("dev"))]),
            ("kubecred-incluster", core_only),
            ("kubecred-env", core_only),
            ("kubecred-proxy", core_only),
            (TESTING, &[(CORE, None)]),
            (
                KUBE,
                &[
                    (CLIENT, None),
                    ("kube", None),
                    ("kube", Some("dev")),
                    ("k8s-openapi", Some("dev")),
                    (TESTING, Some("dev")),
                ],
            ),
        ];
        all.extend_from_slice(extra);
        parse(&metadata(&all)).unwrap()
    }

    #[test]
    fn the_intended_graph_passes() {
        let problems = check(&graph(&[
            (
                "kubecred-client",
                &[
                    (CORE, None),
                    ("kubecred-env", None),
                    (TESTING, Some("dev")),
                    ("reqwest", None),
                ],
            ),
            ("xtask", &[(TESTING, None)]),
            ("kubecred-tests", &[(TESTING, Some("dev"))]),
        ]));
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn a_source_depending_on_another_workspace_crate_is_named_with_its_edge() {
        let problems = check(&graph(&[(
            "kubecred-kubeconfig",
            &[(CORE, None), ("kubecred-env", Some("build"))],
        )]));
        assert_eq!(
            problems,
            [
                "kubecred-kubeconfig has a build dependency on kubecred-env: a source depends on \
              kubecred-core only, among workspace crates"
            ]
        );
    }

    #[test]
    fn a_production_crate_depending_on_the_stand_ins_is_named_with_its_edge() {
        let problems = check(&graph(&[(
            "kubecred-cli",
            &[("kubecred-client", None), (TESTING, None)],
        )]));
        assert_eq!(
            problems,
            [
                "kubecred-cli has a normal dependency on kubecred-testing: a production crate may \
              use kubecred-testing only as a dev-dependency"
            ]
        );
    }

    #[test]
    fn the_core_depending_on_a_workspace_crate_and_a_missing_crate_are_named() {
        let mut packages = graph(&[]);
        packages.retain(|p| p.name != "kubecred-proxy");
        let core = packages.iter_mut().find(|p| p.name == CORE).unwrap();
        core.dependencies.push(crate::workspace::Dependency {
            name: "kubecred-env".into(),
            kind: Kind::Normal,
        });
        assert_eq!(
            check(&packages),
            [
                "kubecred-proxy is not a workspace package: the rules over it check nothing \
                 (renamed? update xtask/src/tidy/deps.rs)",
                "kubecred-core has a normal dependency on kubecred-env: the core depends on no \
                 other workspace crate",
            ]
        );
    }

    #[test]
    fn kube_rs_outside_kubecred_kube_and_its_other_workspace_edges_are_named() {
        let mut packages = graph(&[
            (
                "kubecred-client",
                &[(CORE, None), ("kube-runtime", Some("dev"))],
            ),
            ("kubecred-cli", &[(CLIENT, None), ("k8s-openapi", None)]),
        ]);
        let kube = packages.iter_mut().find(|p| p.name == KUBE).unwrap();
        for (name, kind) in [
            ("kubecred-env", Kind::Normal),
            ("kubecred-proxy", Kind::Dev),
        ] {
            kube.dependencies.push(crate::workspace::Dependency {
                name: name.into(),
                kind,
            });
        }
        assert_eq!(
            check(&packages),
            [
                "kubecred-cli has a normal dependency on k8s-openapi: only kubecred-kube may \
                 depend on kube-rs and k8s-openapi",
                "kubecred-client has a dev-dependency on kube-runtime: only kubecred-kube may \
                 depend on kube-rs and k8s-openapi",
                "kubecred-kube has a normal dependency on kubecred-env: kubecred-kube depends on \
                 kubecred-client only among workspace crates (kubecred-testing as a \
                 dev-dependency)",
                "kubecred-kube has a dev-dependency on kubecred-proxy: kubecred-kube depends on \
                 kubecred-client only among workspace crates (kubecred-testing as a \
                 dev-dependency)",
            ]
        );
        packages.retain(|p| p.name != KUBE);
        assert_eq!(
            kube_rules(&packages)[0],
            "kubecred-kube is not a workspace package: the rules over it check nothing \
             (renamed? update xtask/src/tidy/deps.rs)"
        );
    }
}
