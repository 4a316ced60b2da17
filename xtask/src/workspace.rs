//! The workspace's packages and the dependencies they declare, from `cargo metadata`: the
//! order `cargo xtask ci` documents them in, and what the dependency rules of `tidy` check.

use serde_json::Value;

/// A workspace package, as its manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    /// The package's name (`kubecred-core`).
    pub(crate) name: String,
    /// The crates `cargo doc` makes of it, named as rustdoc names their directories
    /// (`kubecred_core`; the CLI's binary `kubecred`): its library and binaries.
    pub(crate) doc_crates: Vec<String>,
    /// Its declared dependencies, on any package (workspace or not), each once per kind.
    pub(crate) dependencies: Vec<Dependency>,
}

/// One declared dependency: the package depended on (its real name, even when renamed) and
/// the table it is declared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dependency {
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

/// The manifest table a dependency is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// `[dependencies]` (optional ones included).
    Normal,
    /// `[build-dependencies]`.
    Build,
    /// `[dev-dependencies]`: tests, examples and benchmarks only.
    Dev,
}

/// The workspace's packages, from `cargo metadata --format-version 1 --no-deps` run in the
/// workspace root (no network: only the manifests are read).
pub(crate) fn packages() -> Result<Vec<Package>, String> {
    let command = "cargo metadata --format-version 1 --no-deps";
    let output = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(crate::workspace_root())
        .output()
        .map_err(|e| format!("`{command}` could not start: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{command}` exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let json: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`{command}` printed something that is not JSON: {e}"))?;
    parse(&json).map_err(|e| format!("`{command}`: {e}"))
}

/// The packages of a `cargo metadata --format-version 1` document (with `--no-deps`, those
/// are exactly the workspace's members), sorted by name.
pub(crate) fn parse(json: &Value) -> Result<Vec<Package>, String> {
    let packages = json["packages"]
        .as_array()
        .ok_or("no `packages` array in its output")?;
    let mut parsed = Vec::with_capacity(packages.len());
    for package in packages {
        let name = package["name"]
            .as_str()
            .ok_or("a package without a `name`")?
            .to_owned();
        let mut doc_crates = Vec::new();
        for target in package["targets"].as_array().into_iter().flatten() {
            let documented = target["kind"].as_array().is_some_and(|kinds| {
                kinds.iter().any(|kind| {
                    matches!(
                        kind.as_str(),
                        Some("lib" | "rlib" | "dylib" | "proc-macro" | "bin")
                    )
                })
            });
            if let (true, Some(target)) = (documented, target["name"].as_str()) {
                doc_crates.push(target.replace('-', "_"));
            }
        }
        // A binary named like the library is not documented apart from it.
        doc_crates.sort();
        doc_crates.dedup();
        let mut dependencies = Vec::new();
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let dependency_name = dependency["name"]
                .as_str()
                .ok_or_else(|| format!("a dependency of {name} without a `name`"))?;
            let kind = match dependency["kind"].as_str() {
                None => Kind::Normal,
                Some("build") => Kind::Build,
                Some("dev") => Kind::Dev,
                Some(other) => {
                    return Err(format!(
                        "a dependency of {name} of an unknown kind `{other}`"
                    ))
                }
            };
            dependencies.push(Dependency {
                name: dependency_name.to_owned(),
                kind,
            });
        }
        dependencies.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        dependencies.dedup();
        parsed.push(Package {
            name,
            doc_crates,
            dependencies,
        });
    }
    parsed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(parsed)
}

/// The documented packages in layers: each layer's packages depend (normally or to build)
/// only on packages of earlier layers. Documenting one layer after another gives every
/// crate's page its links to the crates below it: rustdoc renders a link into another crate
/// only when that crate's documentation is already there when it starts, and cargo does not
/// order `--no-deps` documentation.
pub(crate) fn doc_layers(packages: &[Package]) -> Result<Vec<Vec<String>>, String> {
    let in_workspace = |name: &str| packages.iter().any(|p| p.name == name);
    let mut placed: Vec<String> = Vec::new();
    let mut layers = Vec::new();
    // A layer places at least one package, so this ends within `packages.len()` rounds.
    while placed.len() < packages.len() {
        let layer: Vec<&Package> = packages
            .iter()
            .filter(|p| !placed.contains(&p.name))
            .filter(|p| {
                p.dependencies.iter().all(|d| {
                    d.kind == Kind::Dev || !in_workspace(&d.name) || placed.contains(&d.name)
                })
            })
            .collect();
        if layer.is_empty() {
            let rest: Vec<&str> = packages
                .iter()
                .filter(|p| !placed.contains(&p.name))
                .map(|p| p.name.as_str())
                .collect();
            return Err(format!(
                "a dependency cycle among {} (outside dev-dependencies)",
                rest.join(", ")
            ));
        }
        placed.extend(layer.iter().map(|p| p.name.clone()));
        let documented: Vec<String> = layer
            .iter()
            .filter(|p| !p.doc_crates.is_empty())
            .map(|p| p.name.clone())
            .collect();
        if !documented.is_empty() {
            layers.push(documented);
        }
    }
    Ok(layers)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A package's declared dependencies: `(dependency, kind)`, kind as cargo writes it
    /// (`None` for `null`, `"build"`, `"dev"`).
    pub(crate) type Dependencies<'a> = &'a [(&'a str, Option<&'a str>)];

    /// A `cargo metadata` document of packages with a library each: `(name, dependencies)`.
    pub(crate) fn metadata(packages: &[(&str, Dependencies<'_>)]) -> Value {
        let packages: Vec<Value> = packages
            .iter()
            .map(|(name, dependencies)| {
                let dependencies: Vec<Value> = dependencies
                    .iter()
                    .map(|(name, kind)| serde_json::json!({"name": name, "kind": kind}))
                    .collect();
                serde_json::json!({
                    "name": name,
                    "targets": [{"kind": ["lib"], "name": name}],
                    "dependencies": dependencies,
                })
            })
            .collect();
        serde_json::json!({ "packages": packages })
    }

    #[test]
    fn kinds_and_names_are_read_as_cargo_writes_them() {
        let json = metadata(&[(
            "b",
            &[("a", None), ("a", Some("dev")), ("cc", Some("build"))],
        )]);
        let packages = parse(&json).unwrap();
        assert_eq!(
            packages,
            [Package {
                name: "b".into(),
                doc_crates: vec!["b".into()],
                dependencies: vec![
                    Dependency {
                        name: "a".into(),
                        kind: Kind::Normal
                    },
                    Dependency {
                        name: "cc".into(),
                        kind: Kind::Build
                    },
                    Dependency {
                        name: "a".into(),
                        kind: Kind::Dev
                    },
                ],
            }]
        );
        assert!(parse(&serde_json::json!({})).is_err());
    }

    #[test]
    fn layers_follow_normal_dependencies_and_ignore_dev_ones() {
        let json = metadata(&[
            (
                "client",
                &[("core", None), ("env", None), ("reqwest", None)],
            ),
            ("core", &[("testing", Some("dev"))]),
            ("env", &[("core", None)]),
            ("testing", &[("core", None)]),
        ]);
        let layers = doc_layers(&parse(&json).unwrap()).unwrap();
        assert_eq!(
            layers,
            [vec!["core"], vec!["env", "testing"], vec!["client"]]
        );
    }

    #[test]
    fn a_cycle_is_an_error_naming_its_packages() {
        let json = metadata(&[("a", &[("b", None)]), ("b", &[("a", Some("build"))])]);
        let error = doc_layers(&parse(&json).unwrap()).unwrap_err();
        assert!(error.contains("a, b"), "{error}");
    }
}
