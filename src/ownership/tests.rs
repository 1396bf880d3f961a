//! Tests of format detection, tree reading, hint matching, decoding and
//! the regex adapter; each format's own semantics are tested in its module. The last test
//! checks the real mirrors and is ignored unless they are present.

use super::*;

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
        .collect()
}

/// A bare repository in a temporary directory whose HEAD tree holds
/// `list`; returns the directory (keep it alive) and the tree id.
fn repo_with(list: &[(&str, &[u8])]) -> (tempfile::TempDir, git2::Repository, git2::Oid) {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init_bare(dir.path()).unwrap();
    let tree = write_tree(&repo, list, "");
    (dir, repo, tree)
}

fn write_tree(repo: &git2::Repository, list: &[(&str, &[u8])], prefix: &str) -> git2::Oid {
    let mut builder = repo.treebuilder(None).unwrap();
    let mut subdirs: Vec<&str> = Vec::new();
    for (path, data) in list {
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        match rest.split_once('/') {
            None => {
                let blob = repo.blob(data).unwrap();
                builder.insert(rest, blob, 0o100644).unwrap();
            }
            Some((sub, _)) => {
                if !subdirs.contains(&sub) {
                    subdirs.push(sub);
                }
            }
        }
    }
    for sub in subdirs {
        let id = write_tree(repo, list, &format!("{prefix}{sub}/"));
        builder.insert(sub, id, 0o040000).unwrap();
    }
    builder.write().unwrap()
}

#[test]
fn empty_owns_nothing() {
    let o = Ownership::empty();
    assert_eq!(o.format(), None);
    assert!(o.owners_of("a/b.c").is_empty());
    assert!(o.areas().is_empty());
    let o = Ownership::from_files(&files(&[("README", "hello")])).unwrap();
    assert_eq!(o.format(), None);
}

#[test]
fn from_files_picks_codeowners_in_github_order() {
    let o = Ownership::from_files(&files(&[
        ("CODEOWNERS", "* @root"),
        ("docs/CODEOWNERS", "* @docs"),
        (".github/CODEOWNERS", "* @github"),
        ("MAINTAINERS", "A\nF: a/\n"),
    ]))
    .unwrap();
    assert_eq!(o.format(), Some(Format::Codeowners));
    assert_eq!(o.owners_of("x"), ["@github"]);
    assert_eq!(o.owners_of("/x"), ["@github"], "a leading slash is ignored");
}

#[test]
fn from_files_maintainers_and_owners() {
    let o = Ownership::from_files(&files(&[
        (
            "board/x/MAINTAINERS",
            "X BOARD\nM: X <x@x.org>\nF: board/x/\n",
        ),
        ("MAINTAINERS", "THE REST\nM: T <t@x.org>\nF: *\nF: */\n"),
    ]))
    .unwrap();
    assert_eq!(o.format(), Some(Format::Maintainers));
    assert_eq!(
        o.owners_of("board/x/a.c"),
        ["X BOARD", "x@x.org", "THE REST", "t@x.org"]
    );
    assert_eq!(o.areas()[0].name, "THE REST", "the root file comes first");

    let o = Ownership::from_files(&files(&[
        ("OWNERS", "a@x.org\n"),
        ("src/OWNERS", "b@x.org\n"),
    ]))
    .unwrap();
    assert_eq!(o.format(), Some(Format::Owners));
    assert_eq!(o.owners_of("src/main.cc"), ["b@x.org", "a@x.org"]);
    assert_eq!(o.nearest_owners_of("src/main.cc"), ["b@x.org"]);
    assert_eq!(o.nearest_owners_of("src/deep/er/x.cc"), ["b@x.org"]);
    assert_eq!(o.nearest_owners_of("README"), ["a@x.org"]);
}

#[test]
fn from_tree_detects_and_honours_location() {
    let (_dir, repo, tree) = repo_with(&[
        (".github/CODEOWNERS", b"/src/ @team\n"),
        ("build/CODEOWNERS", b"* @build\n"),
        ("MAINTAINERS", b"NET\nM: N <n@x.org>\nF: net/\n"),
        ("net/MAINTAINERS", b"NET CORE\nM: c@x.org\nF: net/core/\n"),
        ("src/OWNERS", b"o@x.org\n"),
        ("src/main.c", b"int main;\n"),
    ]);
    let tree = repo.find_tree(tree).unwrap();

    let o = Ownership::from_tree(&repo, &tree, None).unwrap();
    assert_eq!(o.format(), Some(Format::Codeowners));
    assert_eq!(o.owners_of("src/main.c"), ["@team"]);

    let o = Ownership::from_tree(&repo, &tree, Some("build/CODEOWNERS")).unwrap();
    assert_eq!(o.owners_of("src/main.c"), ["@build"]);

    // A bare name selects the format, wherever its file is.
    let o = Ownership::from_tree(&repo, &tree, Some("CODEOWNERS")).unwrap();
    assert_eq!(o.owners_of("src/main.c"), ["@team"]);

    let o = Ownership::from_tree(&repo, &tree, Some("MAINTAINERS")).unwrap();
    assert_eq!(o.format(), Some(Format::Maintainers));
    assert_eq!(
        o.owners_of("net/core/sock.c"),
        ["NET CORE", "c@x.org", "NET", "n@x.org"]
    );

    let o = Ownership::from_tree(&repo, &tree, Some("OWNERS")).unwrap();
    assert_eq!(o.format(), Some(Format::Owners));
    assert_eq!(o.owners_of("src/main.c"), ["o@x.org"]);

    let err = Ownership::from_tree(&repo, &tree, Some("tools/CODEOWNERS")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tools/CODEOWNERS:0: ownership file not found in the tree"
    );
    assert!(Ownership::from_tree(&repo, &tree, Some("README")).is_err());
}

#[test]
fn from_tree_falls_back_to_maintainers_then_owners() {
    let (_dir, repo, tree) = repo_with(&[
        ("MAINTAINERS", b"NET\nM: N <n@x.org>\nF: net/\n"),
        ("board/b/MAINTAINERS", b"B BOARD\nM: b@x.org\nF: board/b/\n"),
    ]);
    let o = Ownership::from_tree(&repo, &repo.find_tree(tree).unwrap(), None).unwrap();
    assert_eq!(o.format(), Some(Format::Maintainers));
    assert_eq!(o.owners_of("board/b/x.c"), ["B BOARD", "b@x.org"]);

    let (_dir, repo, tree) = repo_with(&[
        ("OWNERS", b"root@x.org\n"),
        ("a/b/OWNERS", b"file://tools/SECURITY_OWNERS\n"),
        ("tools/SECURITY_OWNERS", b"sec@x.org\n"),
    ]);
    let o = Ownership::from_tree(&repo, &repo.find_tree(tree).unwrap(), None).unwrap();
    assert_eq!(o.format(), Some(Format::Owners));
    assert_eq!(o.owners_of("a/b/c/d.c"), ["sec@x.org", "root@x.org"]);

    let (_dir, repo, tree) = repo_with(&[("README", b"nothing here\n")]);
    let o = Ownership::from_tree(&repo, &repo.find_tree(tree).unwrap(), None).unwrap();
    assert_eq!(o.format(), None);
}

#[test]
fn hint_matching() {
    assert!(Ownership::hint_matches("@ScottTodd", "@scotttodd"));
    assert!(Ownership::hint_matches("ScottTodd", "@ScottTodd"));
    assert!(Ownership::hint_matches(
        "@iree-org/codegen",
        "iree-org/codegen"
    ));
    assert!(!Ownership::hint_matches("@codegen", "@iree-org/codegen"));
    assert!(Ownership::hint_matches(
        "jmadill@chromium.org",
        "JMadill@Chromium.org"
    ));
    assert!(Ownership::hint_matches(
        "jmadill@chromium.org",
        "Jamie Madill <jmadill@chromium.org>"
    ));
    assert!(Ownership::hint_matches(
        "Jamie Madill <jmadill@chromium.org>",
        "jmadill@chromium.org"
    ));
    assert!(!Ownership::hint_matches(
        "madill@chromium.org",
        "jmadill@chromium.org"
    ));
    assert!(Ownership::hint_matches("Broadcom bnxt", "broadcom BNXT"));
    assert!(Ownership::hint_matches("ACPI:", "ACPI"));
    assert!(Ownership::hint_matches("ACPI", "ACPI:"));
    assert!(!Ownership::hint_matches(
        "Mellanox mlx5",
        "Mellanox mlx5 vDPA"
    ));
    assert!(!Ownership::hint_matches("", ""));
    assert!(Ownership::hint_matches("ÜBER", "über"));
}

#[test]
fn format_serializes_lowercase() {
    assert_eq!(
        serde_json::to_string(&Format::Codeowners).unwrap(),
        "\"codeowners\""
    );
    assert_eq!(
        serde_json::to_string(&Format::Maintainers).unwrap(),
        "\"maintainers\""
    );
    assert_eq!(
        serde_json::to_string(&Format::Owners).unwrap(),
        "\"owners\""
    );
}

#[test]
fn binary_files_are_errors_and_latin1_names_are_tolerated() {
    let err = Ownership::from_files(&[("CODEOWNERS".to_owned(), b"* @a\n\x00\x01\x02".to_vec())])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "CODEOWNERS:2: not UTF-8 text (contains NUL bytes)"
    );
    let utf16: Vec<u8> = "* @a\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert!(Ownership::from_files(&[("CODEOWNERS".to_owned(), utf16)]).is_err());
    let garbage: Vec<u8> = (0..200u8).map(|i| 0x80 | (i % 0x40)).collect();
    let err = Ownership::from_files(&[("MAINTAINERS".to_owned(), garbage)]).unwrap_err();
    assert_eq!(err.to_string(), "MAINTAINERS:1: not UTF-8 text");

    // U-Boot's MAINTAINERS of 2004 spells names in Latin-1.
    let mut latin1 = b"ARM BOARDS\nM: Marius Gr".to_vec();
    latin1.push(0xf6);
    latin1.extend_from_slice(
        b"ger <mag@sysgo.de>\nF: board/sysgo/\n\nTHE REST\nM: w@x.org\nF: *\nF: */\n",
    );
    let o = Ownership::from_files(&[("MAINTAINERS".to_owned(), latin1)]).unwrap();
    assert_eq!(
        o.owners_of("board/sysgo/x.c")[..2],
        ["ARM BOARDS", "mag@sysgo.de"]
    );
}

#[test]
fn ownership_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Ownership>();
}

#[test]
fn owners_of_is_thread_safe() {
    let o = Ownership::from_files(&files(&[("CODEOWNERS", "* @a\n/src/ @b\n")])).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    assert_eq!(o.owners_of("src/x"), ["@b"]);
                    assert_eq!(o.owners_of("x"), ["@a"]);
                }
            });
        }
    });
}

/// `PerlRegex`: what get_maintainer.pl's `m/$value/x` means, on the
/// constructs real MAINTAINERS and OWNERS files use.
mod perl_regex {
    use super::PerlRegex;

    fn is_match(pattern: &str, text: &str) -> bool {
        PerlRegex::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn literals_search_anywhere() {
        assert!(is_match("tegra", "drivers/gpu/tegra/foo.c"));
        assert!(!is_match("tegra", "drivers/gpu/teg/foo.c"));
        assert!(is_match("rk3", "arch/arm/dts/rk3399.dtsi"));
        assert!(is_match("é", "café/x"));
    }

    #[test]
    fn classes_and_quantifiers() {
        assert!(is_match("[^a-z]tegra", "drivers/tegra.c"));
        assert!(!is_match("[^a-z]tegra", "drivers/xtegra.c"));
        assert!(is_match("bcm[9]?47622", "configs/bcm947622_defconfig"));
        assert!(is_match("bcm[9]?47622", "dts/bcm47622.dtsi"));
        assert!(!is_match("bcm[9]?47622", "dts/bcm847622.dtsi"));
        assert!(is_match("stm32mp.*dh[cs]o$", "x/stm32mp15-dhso"));
        assert!(!is_match("stm32mp.*dh[cs]o$", "x/stm32mp15-dhso.c"));
        assert!(is_match(r"a\d{2,3}b", "xa12b"));
        assert!(!is_match(r"a\d{2,3}b", "xa1b"));
        assert!(is_match("^board/.*/foo$", "board/x/y/foo"));
        assert!(!is_match("^board/.*/foo$", "xboard/x/foo"));
        assert!(is_match("(?:omap|am33)xx", "arch/am33xx/x.c"));
        assert!(is_match("a(b|)*c", "ac"));
        assert!(is_match(r"[[:digit:]_]x", "a_x"));
        assert!(is_match(r"[\w.]+\.c$", "dir/x.y.c"));
        assert!(is_match("[a-]", "-"));
        assert!(is_match("[]a]", "]"), "`]` first in a class is a member");
        assert!(is_match("[^]a]", "b"));
        assert!(!is_match("[^]a]", "]"));
        assert!(is_match("x{", "x{"), "a brace that starts no quantifier");
        assert!(is_match(r"\x41", "A"));
        assert!(is_match(r"a\Z", "xa"));
        assert!(!is_match(r"a\Z", "ax"));
    }

    #[test]
    fn lookaround_as_in_u_boot() {
        assert!(is_match("(?<!uni)versal", "board/xilinx/versal/board.c"));
        assert!(!is_match("(?<!uni)versal", "drivers/universal.c"));
        assert!(is_match("(?<!uni)versal-net$", "configs/xilinx_versal-net"));
        assert!(is_match("(?<=/)mmc", "drivers/mmc/x.c"));
        assert!(!is_match("(?<=/)mmc", "drivers/xmmc/x.c"));
        assert!(is_match("mmc(?=/)", "drivers/mmc/x.c"));
        assert!(!is_match("mmc(?!/)", "drivers/mmc/x.c"));
        assert!(
            is_match("(?<=a+)b", "xaab"),
            "a lookbehind of varying length"
        );
        assert!(!is_match("(?<=a+)b", "xb"));
    }

    #[test]
    fn extended_whitespace_and_comments() {
        assert!(
            is_match("foo bar  # comment", "a/foobar"),
            "/x ignores whitespace"
        );
        assert!(is_match("foo # comment\n bar", "a/foobar"));
        assert!(is_match("foo\tbar\n", "a/foobar"));
        assert!(is_match("a +b", "aaab"), "whitespace before a quantifier");
        assert!(is_match("[ ]x", "a x"), "whitespace is literal in classes");
        assert!(!is_match("[ ]x", "ax"));
        assert!(is_match("[#]x", "#x"), "so is `#`");
        assert!(
            is_match("[] ]x", " x"),
            "`]` first does not close the class"
        );
        assert!(is_match("[[:digit:] ]x", " x"), "nor does a POSIX class");
        assert!(is_match(r"a\ b", "a b"), "an escaped space is a space");
        assert!(is_match(r"a\#b", "a#b"), "an escaped `#` starts no comment");
        assert!(is_match(r"\bmlx5", "drivers/net/mlx5/x.c"));
        assert!(!is_match(r"\bmlx5", "drivers/net/xmlx5/x.c"));
    }

    #[test]
    fn named_groups_and_pathological_patterns() {
        assert!(is_match("(?<soc>rk|px)3", "arch/arm/mach-rockchip/px30.c"));
        assert!(is_match("(?P<soc>imx)8", "board/imx8/x.c"));
        // Exponential backtracking neither hangs nor matches.
        let text = format!("c{}!", "a".repeat(40));
        let started = std::time::Instant::now();
        assert!(!is_match("(a*)*c$", &text));
        assert!(!is_match("(?<!x)(a*)*c$", &text));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn lazy_and_possessive_suffixes() {
        assert!(is_match("a+?b", "aab"));
        assert!(is_match("a*+b", "aab"));
        // Possessive, as in Perl: `a*+` takes every `a` and gives none back.
        assert!(!is_match("a*+a", "aaa"));
    }

    #[test]
    fn required_literal_is_longest_plain_run() {
        let required = |p: &str| PerlRegex::new(p).unwrap().required_literal();
        assert_eq!(required("bcm[9]?47622"), "47622");
        assert_eq!(required("(?<!uni)versal-net$"), "versal-net");
        assert_eq!(required("foo bar # comment"), "foobar");
        assert_eq!(required(r"^board/\.x\b"), "board/.x");
        assert_eq!(required("abc*d"), "ab");
        assert_eq!(required("(?:omap|am33)xx"), "xx");
        assert_eq!(required("café"), "café");
        assert_eq!(required("(?i)abc"), "");
        assert_eq!(required("a|b"), "");
        assert_eq!(required("[ab]"), "");
    }

    #[test]
    fn invalid_patterns_are_one_line_errors() {
        for bad in [
            "[a-", "(foo", "foo)", "*x", r"x\", "[z-a]", r"\q", "a**", "(?=a)+",
        ] {
            let error = PerlRegex::new(bad).expect_err(bad);
            assert!(!error.contains('\n'), "{bad}: {error}");
            assert!(
                error.ends_with(&format!(" in regex `{bad}`")),
                "{bad}: {error}"
            );
        }
        assert_eq!(
            PerlRegex::new("(foo").unwrap_err(),
            "Opening parenthesis without closing parenthesis in regex `(foo`"
        );
    }
}

/// Parses the ownership files of the real mirrors (at HEAD and at the
/// dev cases' `opened_at`) and checks that every team hint of the dev
/// cases names an owner; prints counts and timings. Run with
/// `cargo test --lib ownership::tests::real_mirrors -- --ignored --nocapture`;
/// `RCA_MIRRORS` (the folder of bare mirrors) and `RCA_DEV_CASES` (the
/// folder of dev case files) say where they are.
#[test]
#[ignore = "needs the benchmark mirrors: set RCA_MIRRORS and RCA_DEV_CASES"]
fn real_mirrors() {
    use std::time::Instant;
    let (Ok(mirrors), Ok(cases_dir)) =
        (std::env::var("RCA_MIRRORS"), std::env::var("RCA_DEV_CASES"))
    else {
        panic!("set RCA_MIRRORS and RCA_DEV_CASES");
    };
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&cases_dir).unwrap() {
        let path = entry.unwrap().path();
        let spec: serde_yaml::Value =
            serde_yaml::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mirror = spec["mirror"].as_str().unwrap();
        let branch = spec["default_branch"].as_str().unwrap_or("main");
        let location = spec["ownership_file"].as_str();
        let repo = git2::Repository::open_bare(format!("{mirrors}/{mirror}/repo")).unwrap();
        let head = repo
            .revparse_single(&format!("refs/heads/{branch}"))
            .or_else(|_| repo.revparse_single("HEAD"))
            .unwrap()
            .peel_to_commit()
            .unwrap();

        // HEAD: parse, time, and 10,000 lookups over the tree's own paths.
        let tree = head.tree().unwrap();
        let started = Instant::now();
        let o = Ownership::from_tree(&repo, &tree, None).unwrap();
        let parse_time = started.elapsed();
        let mut paths = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
            if e.kind() == Some(git2::ObjectType::Blob) {
                paths.push(format!("{dir}{}", e.name().unwrap_or("")));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        let started = Instant::now();
        let mut owned = 0;
        for i in 0..10_000 {
            owned += usize::from(!o.owners_of(&paths[(i * 7919) % paths.len()]).is_empty());
        }
        let lookup_time = started.elapsed();
        eprintln!(
            "{mirror} HEAD {}: {:?}, {} areas, {} files in tree; from_tree {:?}; 10,000 owners_of {:?} ({owned} owned)",
            &head.id().to_string()[..10],
            o.format(),
            o.areas().len(),
            paths.len(),
            parse_time,
            lookup_time
        );

        // Each case at its opened_at: parse with the case's location and
        // check its hints.
        for case in spec["cases"].as_sequence().unwrap() {
            let id = case["id"].as_str().unwrap();
            let opened = case["opened_at"].as_str().unwrap();
            let when = opened.parse::<jiff::Timestamp>().unwrap().as_second();
            let mut walk = repo.revwalk().unwrap();
            walk.push(head.id()).unwrap();
            walk.simplify_first_parent().unwrap();
            let commit = walk
                .map(|c| repo.find_commit(c.unwrap()).unwrap())
                .find(|c| c.time().seconds() <= when)
                .unwrap();
            let o = match Ownership::from_tree(&repo, &commit.tree().unwrap(), location) {
                Ok(o) => o,
                Err(e) => {
                    failures.push(format!("{id}: {e}"));
                    continue;
                }
            };
            let owners: std::collections::HashSet<&String> =
                o.areas().iter().flat_map(|a| &a.owners).collect();
            for hint in case["team_hint"].as_sequence().into_iter().flatten() {
                let hint = hint.as_str().unwrap();
                if !owners
                    .iter()
                    .any(|owner| Ownership::hint_matches(hint, owner))
                {
                    failures.push(format!("{id} at {opened}: hint `{hint}` names no owner"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
