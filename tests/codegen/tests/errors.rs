//! Mistakes in `.proto` files fail code generation with the file, line and
//! column, never a panic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the target's temp dir holding `files`.
fn workspace(files: &[(&str, &str)]) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "ferry-build-errors-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn compile(files: &[(&str, &str)], root: &str) -> Result<(), ferry_build::Error> {
    let dir = workspace(files);
    ferry_build::configure()
        .out_dir(dir.join("out"))
        .emit_rerun_if_changed(false)
        .compile(&[dir.join(root)], &[&dir])
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let err = compile(
        &[(
            "bad.proto",
            "syntax = \"proto3\";\npackage p;\nmessage A {\n  int32 x = ;\n}\n",
        )],
        "bad.proto",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(err.is_proto());
    assert!(text.starts_with("bad.proto:4:13: "), "{text}");
    assert_eq!(format!("{err:?}"), text, "build scripts print Debug");
}

#[test]
fn an_unknown_import_names_the_import_line() {
    let err = compile(
        &[(
            "root.proto",
            "syntax = \"proto3\";\n\nimport \"missing.proto\";\npackage p;\n",
        )],
        "root.proto",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("root.proto:3:1: "), "{text}");
    assert!(text.contains("'missing.proto' not found"), "{text}");
}

#[test]
fn an_unknown_type_names_where_it_is_used() {
    let err = compile(
        &[(
            "types.proto",
            "syntax = \"proto3\";\npackage p;\nmessage A {\n  Missing m = 1;\n}\n",
        )],
        "types.proto",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("types.proto:4:3: "), "{text}");
    assert!(text.contains("Missing"), "{text}");
}

#[test]
fn an_error_in_an_imported_file_names_that_file() {
    let err = compile(
        &[
            (
                "top.proto",
                "syntax = \"proto3\";\nimport \"dep.proto\";\npackage p;\nmessage T { q.D d = 1; }\n",
            ),
            (
                "dep.proto",
                "syntax = \"proto3\";\npackage q;\nmessage D {\n  string s = 1\n}\n",
            ),
        ],
        "top.proto",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("dep.proto:5:1: "), "{text}");
}

#[test]
fn a_missing_root_file_and_an_empty_list_are_clear_errors() {
    let err = compile(&[], "absent.proto").unwrap_err();
    assert!(err.to_string().contains("absent.proto"), "{err}");

    let none: &[&str] = &[];
    let err = ferry_build::configure()
        .out_dir(workspace(&[]))
        .emit_rerun_if_changed(false)
        .compile(none, &["."])
        .unwrap_err();
    assert!(!err.is_proto());
    assert!(err.to_string().contains("no .proto files"), "{err}");
}

#[test]
fn client_only_and_server_only_generation() {
    let proto =
        "syntax = \"proto3\";\npackage only;\nmessage M {}\nservice S { rpc Do(M) returns (M); }\n";
    for (server, client) in [(true, false), (false, true)] {
        let dir = workspace(&[("only.proto", proto)]);
        ferry_build::configure()
            .build_server(server)
            .build_client(client)
            .out_dir(dir.join("out"))
            .emit_rerun_if_changed(false)
            .compile(&[dir.join("only.proto")], &[&dir])
            .unwrap();
        let generated = std::fs::read_to_string(dir.join("out/only.rs")).unwrap();
        assert_eq!(generated.contains("pub mod s_server"), server);
        assert_eq!(generated.contains("pub mod s_client"), client);
    }
}

#[test]
fn attributes_and_extern_paths_reach_the_output() {
    let dir = workspace(&[
        (
            "attrs.proto",
            "syntax = \"proto3\";\npackage attrs;\nimport \"ext.proto\";\nmessage M { string name = 1; ext.E e = 2; }\n",
        ),
        (
            "ext.proto",
            "syntax = \"proto3\";\npackage ext;\nmessage E {}\n",
        ),
    ]);
    ferry_build::configure()
        .type_attribute(".attrs.M", "#[derive(Hash)]")
        .field_attribute(".attrs.M.name", "#[doc = \"the name\"]")
        .extern_path(".ext", "::other_crate::ext")
        .out_dir(dir.join("out"))
        .emit_rerun_if_changed(false)
        .compile(&[dir.join("attrs.proto")], &[&dir])
        .unwrap();
    let generated = std::fs::read_to_string(dir.join("out/attrs.rs")).unwrap();
    assert!(generated.contains("#[derive(Hash)]"), "{generated}");
    assert!(generated.contains("the name"), "{generated}");
    assert!(generated.contains("::other_crate::ext::E"), "{generated}");
    assert!(
        !dir.join("out/ext.rs").exists(),
        "extern packages are not generated"
    );
}
