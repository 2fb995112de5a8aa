//! Config files: the example is accepted; every problem is reported with line, column, key and value.

use std::path::Path;

use binwatch::config::{Config, Problem, Source, check};

fn problems(src: &str) -> Vec<Problem> {
    // base: the repository, so `models/...` paths resolve like in a checkout
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.onnx"), b"x").unwrap();
    let (_, p) = check(src, dir.path());
    p
}

const GOOD: &str = r#"
[model]
path = "m.onnx"

[[cameras]]
name = "cam"
source = { kind = "folder", path = "/frames" }

[[bins]]
id = "b1"
camera = "cam"
region = [0.1, 0.2, 0.5, 0.9]
"#;

#[test]
fn minimal_config_is_accepted_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.onnx"), b"x").unwrap();
    let (cfg, p) = check(GOOD, dir.path());
    assert!(p.is_empty(), "{p:?}");
    let cfg = cfg.unwrap();
    assert_eq!(cfg.model.threads, 1);
    assert_eq!(cfg.debounce.min_frames, 3);
    assert_eq!(cfg.cameras[0].interval_s, 60.0);
    assert!(matches!(cfg.cameras[0].source, Source::Folder { .. }));
    assert_eq!(cfg.state_dir, Path::new("/var/lib/binwatch"));
    assert!(cfg.bins[0].region().is_some());
}

#[test]
fn example_config_is_accepted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("calibration/example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (cfg, p) = check(&text, path.parent().unwrap());
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/bin-fill.onnx");
    if model.is_file() {
        assert!(p.is_empty(), "{p:?}");
        let cfg = cfg.unwrap();
        assert_eq!(cfg.cameras.len(), 3);
        assert_eq!(cfg.bins.len(), 2);
    } else {
        // without the trained model in the checkout, that is the only problem
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "model.path");
    }
}

#[test]
fn unknown_key_has_line_column_and_suggestion() {
    let src = GOOD.replace(
        "region = [",
        "regoin = [0.1, 0.2, 0.5, 0.9]\nquad_x = 1\nregion = [",
    );
    let p = problems(&src);
    let unknown: Vec<&Problem> = p
        .iter()
        .filter(|p| p.message.contains("unknown key"))
        .collect();
    assert_eq!(unknown.len(), 2, "{p:?}");
    assert_eq!(unknown[0].key, "bins[0].regoin");
    assert_eq!((unknown[0].line, unknown[0].column), (12, 1));
    assert!(
        unknown[0].message.contains("did you mean `region`"),
        "{}",
        unknown[0]
    );
    assert_eq!(unknown[1].key, "bins[0].quad_x");
}

#[test]
fn wrong_type_names_key_and_value() {
    let src = GOOD.replace("path = \"m.onnx\"", "path = \"m.onnx\"\nthreads = \"two\"");
    let p = problems(&src);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "model.threads");
    assert_eq!(p[0].value.as_deref(), Some("\"two\""));
    assert_eq!((p[0].line, p[0].column), (4, 11));
    let text = p[0].to_string();
    assert!(
        text.contains("line 4") && text.contains("model.threads") && text.contains("\"two\""),
        "{text}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let src = r#"
state_dri = "/x"
[model]
path = "missing.onnx"

[[cameras]]
name = "a"
interval_s = 0
source = { kind = "http", url = "ftp://x" }

[[cameras]]
name = "a"
source = { kind = "folder", path = "/x" }

[[bins]]
id = "b1"
camera = "zzz"
region = [0.5, 0.1, 0.2, 0.9]

[[bins]]
id = "b1"
camera = "a"
quad = [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]

[[bins]]
id = "b3"
camera = "a"
quad = [[0.1, 0.1], [0.1, 0.1], [0.1, 0.1], [0.1, 0.1]]

[debounce]
alert_threshold = 1.5
clear_threshold = 0.4
"#;
    let p = problems(src);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for want in [
        "state_dri",
        "model.path",
        "cameras[0].interval_s",
        "cameras[0].source.url",
        "cameras[1].name",
        "bins[0].camera",
        "bins[0].region",
        "bins[1].id",
        "bins[1].quad",
        "bins[2].quad",
        "debounce.alert_threshold",
    ] {
        assert!(keys.contains(&want), "{want} not reported; got {p:#?}");
    }
    let find = |k: &str| p.iter().find(|p| p.key == k).unwrap();
    assert!(
        find("bins[0].region")
            .message
            .contains("x0 (0.5) must be less than x1 (0.2)")
    );
    assert!(find("bins[1].quad").message.contains("self-intersecting"));
    assert!(find("bins[2].quad").message.contains("degenerate"));
    assert!(
        find("bins[0].camera")
            .message
            .contains("unknown camera `zzz`")
    );
    assert!(find("cameras[1].name").message.contains("duplicate"));
    assert_eq!(
        find("bins[0].region").value.as_deref(),
        Some("[0.5, 0.1, 0.2, 0.9]")
    );
    // sorted by position
    assert!(
        p.windows(2)
            .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column))
    );
}

#[test]
fn skip_and_decode_keys_have_defaults_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.onnx"), b"x").unwrap();
    let (cfg, p) = check(GOOD, dir.path());
    assert!(p.is_empty(), "{p:?}");
    let d = cfg.unwrap().daemon;
    assert!(d.skip_unchanged && d.scaled_decode);
    assert_eq!(
        (d.skip_threshold, d.skip_max_age_s, d.decode_scale_ratio),
        (0.1, 300.0, 2.0)
    );

    let bad = format!(
        "{GOOD}\n[daemon]\nskip_threshold = 0\nskip_max_age_s = -5\ndecode_scale_ratio = 0.5\nskip_treshold = 0.2\n"
    );
    let p = problems(&bad);
    let keys: Vec<&str> = p.iter().map(|x| x.key.as_str()).collect();
    for k in [
        "daemon.skip_threshold",
        "daemon.skip_max_age_s",
        "daemon.decode_scale_ratio",
        "daemon.skip_treshold",
    ] {
        assert!(keys.contains(&k), "{k} not reported: {p:?}");
    }
    let unknown = p.iter().find(|x| x.key == "daemon.skip_treshold").unwrap();
    assert!(
        unknown.message.contains("did you mean `skip_threshold`"),
        "{}",
        unknown.message
    );
    let ok = format!(
        "{GOOD}\n[daemon]\nskip_unchanged = false\nscaled_decode = false\nskip_threshold = 0.25\n"
    );
    assert!(problems(&ok).is_empty());
}

#[test]
fn syntax_error_has_position() {
    let p = problems("[model]\npath = \"m.onnx\nthreads = 1\n");
    assert!(!p.is_empty());
    assert_eq!(p[0].line, 2, "{p:?}");
    assert!(p[0].message.contains("TOML syntax"));
}

#[test]
fn load_lists_problems_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "[model]\nthreads = 0\npath = \"nope.onnx\"\n").unwrap();
    let err = Config::load(&f).unwrap_err().to_string();
    assert!(
        err.contains("bad.toml") && err.contains("model.threads") && err.contains("nope.onnx"),
        "{err}"
    );
}

#[test]
fn check_config_command_exits_non_zero_and_lists_problems() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, "colour = 1\n[debounce]\nmin_frames = 0\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_binwatch"))
        .arg("check-config")
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`colour`") && err.contains("debounce.min_frames") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn check_config_also_checks_what_run_meets_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.onnx");
    let f = dir.path().join("site.toml");
    let good_secret = dir.path().join("webhook.secret");
    std::fs::write(&good_secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
    let write = |secret: &str, state: &str| {
        std::fs::write(
            &f,
            format!(
                "state_dir = \"{state}\"\n[model]\npath = \"{}\"\n\n[[sinks]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\nsecret_file = \"{secret}\"\n",
                model.display()
            ),
        )
        .unwrap();
    };
    let check = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_binwatch"))
            .arg("check-config")
            .args(extra)
            .arg(&f)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    write("webhook.secret", "state");
    let (ok, text) = check(&[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("model") && text.contains("loaded") && text.contains("secret read"),
        "{text}"
    );

    // a missing secret file, and a state_dir under a regular file: found, with line, key and value
    std::fs::write(dir.path().join("plain"), "x").unwrap();
    write("nosuch.secret", "plain/state");
    let (ok, text) = check(&[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("line 8")
            && text.contains("`sinks[0].secret_file` = \"nosuch.secret\"")
            && text.contains("No such file"),
        "{text}"
    );
    assert!(
        text.contains("line 1") && text.contains("`state_dir`") && text.contains("is not a folder"),
        "{text}"
    );
    // --file-only looks at the file alone
    let (ok, text) = check(&["--file-only"]);
    assert!(ok, "{text}");
}

#[test]
fn a_typo_in_a_sink_is_placed_at_its_line_with_a_suggestion() {
    let src =
        "[[sinks]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\n\nsecret_flie = \"a\"\n";
    let (_, problems) = binwatch::config::check(src, std::path::Path::new("."));
    let p = problems
        .iter()
        .find(|p| p.key == "sinks[0].secret_flie")
        .unwrap_or_else(|| panic!("{problems:?}"));
    assert_eq!(p.line, 5, "{p}");
    assert!(p.message.contains("did you mean `secret_file`"), "{p}");
}

#[test]
fn check_config_reports_a_replay_folder_that_is_missing_or_empty() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.onnx");
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let f = dir.path().join("site.toml");
    std::fs::write(
        &f,
        format!(
            "state_dir = \"state\"\n[model]\npath = \"{}\"\n\n[[cameras]]\nname = \"a\"\nsource = {{ kind = \"folder\", path = \"gone\" }}\n\n[[cameras]]\nname = \"b\"\nsource = {{ kind = \"folder\", path = \"empty\" }}\n",
            model.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_binwatch"))
        .arg("check-config")
        .arg(&f)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("line 7") && err.contains("`cameras[0].source.path`") && err.contains("gone"),
        "{err}"
    );
    assert!(
        err.contains("line 11")
            && err.contains("`cameras[1].source.path`")
            && err.contains("holds no images"),
        "{err}"
    );
}
