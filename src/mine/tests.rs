//! Unit tests of the mining rules: trailers, revert forms, cleaning,
//! sentences, symptoms, leak guards and team hints. Every message, id and
//! name here is made up.

use super::*;

const CULPRIT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

fn names() -> CulpritNames {
    CulpritNames::new(CULPRIT, "widget/core: cache the frame layout", "")
}

#[test]
fn fixes_trailers_in_their_forms() {
    let body = "Text.\n\nFixes: a1b2c3d4e5f6 (\"widget/core: cache\")\nFixes: 9f8e7d6\nCc: list\n";
    assert_eq!(fixes_targets(body), vec!["a1b2c3d4e5f6", "9f8e7d6"]);
    // The id on the next line, after "commit".
    let body = "Fixes:\ncommit 0c1d2e3f4a5b (\"board: x\")\n";
    assert_eq!(fixes_targets(body), vec!["0c1d2e3f4a5b"]);
    // Issues, URLs, quoted trailers and short hex name no commit.
    let body = "Fixes: #1234\nFixes: https://example.com/x\n> Fixes: a1b2c3d4e5f6\nFixes: abc12\n";
    assert!(fixes_targets(body).is_empty());
    // Duplicates collapse, case is folded.
    assert_eq!(
        fixes_targets("Fixes: ABCDEF12\nfixes: abcdef12"),
        vec!["abcdef12"]
    );
}

#[test]
fn revert_targets_in_their_forms() {
    let t = |s: &str, b: &str| revert_targets(s, b);
    assert!(is_revert("Revert \"x\"", ""));
    assert!(is_revert("Fix", "This reverts commit a1b2c3d4."));
    assert!(!is_revert(
        "Reverting state on error",
        "Keeps the old state."
    ));
    assert_eq!(
        t(
            "Revert \"x\"",
            "This reverts commit a1b2c3d4e5f60718.\n\nBreaks boot."
        ),
        vec![Target::Commit("a1b2c3d4e5f60718".into())]
    );
    assert_eq!(
        t(
            "Revert \"x\" (#12)",
            "Reverts example/widgets#3141\n\nBroke tests."
        ),
        vec![Target::Pull(3141)]
    );
    assert_eq!(
        t("Revert \"x\"", "This reverts #77 because it broke CI."),
        vec![Target::Pull(77)]
    );
    assert_eq!(
        t("Revert \"x\"", "Reverts https://github.com/o/r/pull/5"),
        vec![Target::Pull(5)]
    );
    // The reverted subject's number, not the revert's own.
    assert_eq!(
        t(
            "Revert \"Add a pass (#200)\" (#210)",
            "Causes a regression."
        ),
        vec![Target::Pull(200)]
    );
    // A subject cut by GitHub, continued in the body.
    assert_eq!(
        t(
            "Revert \"Teach the widget layout engine about nested fra… (#310)",
            "…mes. (#300)\"\n\nSlow."
        ),
        vec![Target::Pull(300)]
    );
    // The commit form wins over the others; no target at all is empty.
    assert_eq!(
        t("Revert \"a (#1)\"", "This reverts commit 0c1d2e3.\n"),
        vec![Target::Commit("0c1d2e3".into())]
    );
    assert!(t("Revert \"a\"", "It broke things.").is_empty());
    // Several commits.
    assert_eq!(
        t(
            "Revert \"a\" and \"b\"",
            "This reverts commit 1a2b3c4d5e6f and\n6f5e4d3c2b1a. It broke CI."
        ),
        vec![
            Target::Commit("1a2b3c4d5e6f".into()),
            Target::Commit("6f5e4d3c2b1a".into())
        ]
    );
    // Relands are not reverts.
    assert!(!is_revert(
        "Revert \"Revert \"x\"\"",
        "This reverts commit a1b2c3d4."
    ));
    assert!(!is_revert(
        "Reapply \"x\" (#320)",
        "This reverts https://github.com/o/r/pull/315."
    ));
}

#[test]
fn subject_tags_go_components_stay() {
    assert_eq!(
        strip_subject_tags("[PATCH v2 3/4] net: fix x"),
        "net: fix x"
    );
    assert_eq!(
        strip_subject_tags("[cherry-pick] [PATCH] fixup! net: fix x"),
        "net: fix x"
    );
    assert_eq!(
        strip_subject_tags("[Layout] Fix wrapping"),
        "[Layout] Fix wrapping"
    );
    assert_eq!(
        fix_title("gpu: use is_ready() to check the queue (#123)"),
        "gpu: use is_ready to check the queue"
    );
}

#[test]
fn cleaning_strips_links_ids_and_references() {
    assert_eq!(
        clean_text("breaks the nightly bots:\nhttps://ci.example.com/run/4242/overview"),
        "breaks the nightly bots"
    );
    assert_eq!(
        clean_text("blocks the release - tracker.example.com/1234"),
        "blocks the release"
    );
    assert_eq!(
        clean_text("Breaking internal tests: [X1234](https://x.example/X1)"),
        "Breaking internal tests"
    );
    assert_eq!(
        clean_text("Fails after a1b2c3d4e5f6 landed (see b/555)."),
        "Fails after landed (see)."
    );
    assert_eq!(
        clean_text("Bug widgets:1234 and Change I0123456789abcdef0123456789abcdef01234567"),
        "Bug and Change"
    );
    assert_eq!(
        clean_text("Reverted in #1234 and example/widgets#99, see crrev.com/c/42"),
        "Reverted in and, see"
    );
    assert_eq!(
        clean_text("the **bold** call foo() fails"),
        "the bold call foo fails"
    );
    assert_eq!(
        clean_text("discussed in [1], cc @someone @org/team."),
        "discussed in, cc."
    );
    // Numbers, file:line and words made of hex letters stay.
    assert_eq!(
        clean_text("load at 0x80000000 after 1000000 facade in Makefile:12"),
        "load at 0x80000000 after 1000000 facade in Makefile:12"
    );
}

#[test]
fn sentences_split_on_capitals_only() {
    assert_eq!(
        sentences("The checker reports a null value. This patch fixes this."),
        vec![
            "The checker reports a null value.",
            "This patch fixes this."
        ]
    );
    assert_eq!(sentences("Fix issues. the_flag is written twice.").len(), 1);
    assert_eq!(
        sentences("It fails, e.g. On Linux. (Plans exist.)").len(),
        2
    );
    assert_eq!(
        sentences("Breaks replay:\nINFO: Crashed: 0"),
        vec!["Breaks replay: INFO: Crashed: 0"]
    );
}

#[test]
fn symptoms_are_word_starts() {
    assert!(has_symptom("Causes rendering issues in the demo."));
    assert!(has_symptom("The loader got broken."));
    assert!(has_symptom("dereferenced with NULL value"));
    assert!(!has_symptom("The comment was left as it was."));
    assert!(!has_symptom("We need this because the rebuild is long."));
}

#[test]
fn truncation_cuts_at_a_word() {
    assert_eq!(truncate("short", 10), "short");
    assert_eq!(truncate("one two three four", 9), "one two ...");
    assert_eq!(truncate("ééééé ééé", 5), "éé ...");
}

#[test]
fn culprit_names_are_ids_subjects_and_pulls() {
    let n = names();
    assert!(names_culprit("Fixes regression from a1b2c3d4e5", &n));
    assert!(names_culprit(
        "Revert \"widget/core: cache the frame layout\"",
        &n
    ));
    // Seven hex digits are enough, six are not.
    assert!(names_culprit("since a1b2c3d it fails", &n));
    assert!(!names_culprit("since a1b2c3 it fails", &n));
    assert!(!names_culprit("widget/core: fix frame layout caching", &n));
    let pr = CulpritNames::new(CULPRIT, "Add a layout pass (#200)", "");
    assert!(pr.subjects.contains(&"add a layout pass".to_owned()));
    assert!(names_culprit("Breaks #200 users", &pr));
    assert!(!names_culprit("Breaks #2001 users", &pr));
}

#[test]
fn fix_impact_is_a_symptom_sentence() {
    let n = names();
    let body = "\nThe checker reports that pointer \"x\" may be\ndereferenced with null value. This patch fixes this.\n\nFixes: 0c1d2e3f4a5b (\"y\")\n";
    assert_eq!(
        fix_impact(body, &n).as_deref(),
        Some("The checker reports that pointer \"x\" may be dereferenced with null value.")
    );
    // No symptom, the change itself, the culprit named, trailers only.
    assert_eq!(fix_impact("\nThe comment was left as it was.\n", &n), None);
    assert_eq!(
        fix_impact("\nThis patch fixes a compile error.\n", &n),
        None
    );
    assert_eq!(
        fix_impact("\nCommit a1b2c3d4e5f6 introduced build errors.\n", &n),
        None
    );
    assert_eq!(
        fix_impact("\nFixes: a1b2c3d4e5f6\nSigned-off-by: A <a@b>\n", &n),
        None
    );
}

#[test]
fn revert_reasons_lose_their_boilerplate() {
    let gerrit = "\nThis reverts commit a1b2c3d4e5f60718293a4b5c6d7e8f9012345678.\n\nReason for revert: crashes on debug bots (at least one)\n\n> Original subject\n> \n> Bug: widgets:1\n\nTBR=a@example.com\n\n# Not skipping CQ checks because original CL landed > 1 day ago.\n";
    assert_eq!(
        revert_reason(gerrit),
        "crashes on debug bots (at least one)"
    );
    let which = "\nThis reverts commit a1b2c3d4e5f60718293a4b5c6d7e8f9012345678,\nwhich breaks the widget demo build.\n";
    assert_eq!(revert_reason(which), "breaks the widget demo build.");
    let pr = "\nReverts example/widgets#16 due to a layout issue.\n";
    assert_eq!(revert_reason(pr), "a layout issue.");
    let summary = "\n…mes (#300)\"\n\nThis reverts commit a1b2c3d4.\n\n### Summary\nSeeing crashes in the unit test job.\n\n### Test plan\nCI\n";
    assert_eq!(
        revert_reason(summary),
        "Seeing crashes in the unit test job."
    );
    let code =
        "\nReverts a/b#1\n\nRunners fail installing `tool`. Logs:\n```\nE: Unable\n```\nMore.\n";
    assert_eq!(revert_reason(code), "Runners fail installing `tool`. Logs:");
    assert!(!has_reason(&revert_reason(
        "\nThis reverts commit a1b2c3d4e5f6.\n"
    )));
    assert!(!has_reason(&revert_reason(
        "\nReverts example/widgets#11\n\n---------\n\nCo-authored-by: A <a@b>\n"
    )));
    assert!(has_reason(&revert_reason("\nNumerical issues reported.\n")));
    // A merge bot's revert: the reason is what follows "due to".
    let bot = "\nThis reverts commit a1b2c3d4.\n\nReverted https://github.com/o/widgets/pull/163 on behalf of https://github.com/someone due to Sorry but this fails lint on trunk: [job](https://ci.example.com/1) ([comment](https://github.com/o/widgets/pull/163#issuecomment-1))\n";
    assert_eq!(
        revert_facts(&revert_reason(bot), &names()).unwrap().0,
        "Sorry but this fails lint on trunk"
    );
    // A squashed pull request repeats the revert's subject: no reason.
    assert!(!has_reason(&revert_reason(
        "\nRevert \"Fix the crash in the widget (#12)\"\n\nThis reverts commit a1b2c3d4.\n"
    )));
    // A template's paragraphs go whole, however they wrap; so do
    // Phabricator's trailers.
    let template = "\nThis reverts commit a1b2c3d4.\n\nBroke the widget job.\n\n### Summary\n[PLEASE REMOVE] See the guidelines\nfor widget PRs.\n\n[PLEASE REMOVE] If this PR closes an issue, add a `Fixes\n#<issue-id>` line.\n\nPulled By: someone\n";
    assert_eq!(revert_reason(template), "Broke the widget job.");
    assert!(!has_reason(&revert_reason(
        "\nThis reverts commit a1b2c3d4.\n\n[PLEASE REMOVE] See the guidelines\nfor widget PRs.\n"
    )));
}

#[test]
fn revert_title_is_the_symptom_sentence() {
    let n = names();
    let reason =
        "We like small options. Sadly this one hides a build issue. It is hard to say more.";
    let rest = "It is hard to say more.";
    // The sentences after the title must describe a symptom too.
    assert_eq!(
        revert_facts(&format!("Breaks the boot. {rest}"), &n)
            .unwrap()
            .1,
        None
    );
    assert!(
        revert_facts(&format!("Breaks the boot. {rest} It fails."), &n)
            .unwrap()
            .1
            .is_some()
    );
    let (title, impact) = revert_facts(reason, &n).unwrap();
    assert_eq!(title, "Sadly this one hides a build issue.");
    assert_eq!(impact, None);
    // A short leftover is no impact.
    let facts = revert_facts("Suspected for the perf test failure. See issue.", &n);
    assert_eq!(facts.unwrap().1, None);
    // No symptom at all: no case.
    assert_eq!(
        revert_facts("Not ready yet. Landed by accident.", &n),
        Err(Dropped::RevertWithoutSymptom)
    );
    // The title naming the culprit drops the case.
    assert_eq!(
        revert_facts("a1b2c3d4e5f6 breaks the boot.", &n),
        Err(Dropped::LeakyTitle)
    );
    // A link holding the id is no leak: links are stripped.
    let linked = revert_facts(
        "Breaks tests: https://ci.example/commit/a1b2c3d4e5f60718",
        &n,
    );
    assert_eq!(linked.unwrap().0, "Breaks tests");
    // A later sentence naming it drops only the impact.
    let facts = revert_facts(
        "Breaks the boot. Bisected to widget/core: cache the frame layout today.",
        &n,
    );
    assert_eq!(facts.unwrap(), ("Breaks the boot.".to_owned(), None));
}

#[test]
fn names_from_paths() {
    use std::path::Path;
    assert_eq!(
        names_for(Path::new("/m/acme-os+acme-os/repo")),
        ("acme-os/acme-os".into(), "acmeos".into())
    );
    assert_eq!(
        names_for(Path::new("/src/widgets/.git")),
        ("widgets".into(), "widgets".into())
    );
    assert_eq!(
        names_for(Path::new("/src/gadget.git")),
        ("gadget".into(), "gadget".into())
    );
}

fn ownership(files: &[(&str, &str)]) -> Ownership {
    let files: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
        .collect();
    Ownership::from_files(&files).unwrap()
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| (*p).to_owned()).collect()
}

#[test]
fn team_hints_are_the_most_specific_owners_by_file_count() {
    // MAINTAINERS: the most specific section's title per file, no e-mails,
    // ranked by how many files each owns.
    let m = ownership(&[(
        "MAINTAINERS",
        "THE REST\nM:\tT <t@x.org>\nF:\t*\n\nNET\nM:\tN <n@x.org>\nF:\tnet/\n\nDOCS\nM:\tD <d@x.org>\nF:\tdocs/\n",
    )]);
    assert_eq!(
        team_hint(&m, &paths(&["docs/a.md", "net/a.c", "net/b.c", "README"])),
        ["NET", "DOCS", "THE REST"]
    );
    // CODEOWNERS: the winning rule's owners; @ghost and * own nothing.
    let c = ownership(&[(
        "CODEOWNERS",
        "/src/ @a @b\n/src/vendored/ @ghost\n/tools/ @c\n",
    )]);
    assert_eq!(
        team_hint(&c, &paths(&["tools/x", "src/y", "src/z", "src/vendored/v"])),
        ["@a", "@b", "@c"]
    );
    // OWNERS: the nearest file only, not its parents.
    let o = ownership(&[("OWNERS", "root@x.org\n"), ("gpu/OWNERS", "gpu@x.org\n")]);
    assert_eq!(team_hint(&o, &paths(&["gpu/a.cc"])), ["gpu@x.org"]);
    assert_eq!(team_hint(&o, &paths(&["main.cc"])), ["root@x.org"]);
    // At most six.
    let many: String = (0..9).map(|i| format!("/d{i}/ @o{i}\n")).collect();
    let c = ownership(&[("CODEOWNERS", many.as_str())]);
    let files: Vec<String> = (0..9).map(|i| format!("d{i}/f")).collect();
    assert_eq!(team_hint(&c, &files).len(), TEAM_HINT_MAX);
}

#[test]
fn classification_prefers_the_revert_form() {
    let c = |s: &str, b: &str| classify(s, b).map(|(source, t)| (source, t.len()));
    assert_eq!(
        c("net: fix x", "Fixes: a1b2c3d4e5f6\n"),
        Some((Source::FixesTrailer, 1))
    );
    assert_eq!(
        c(
            "Revert \"net: x\"",
            "This reverts commit a1b2c3d4e5f6.\n\nFixes: 9f8e7d6aa\n"
        ),
        Some((Source::Revert, 1))
    );
    // A revert subject with no target is still a (targetless) revert.
    assert_eq!(
        c("Revert \"net: x\"", "It broke.\n"),
        Some((Source::Revert, 0))
    );
    assert_eq!(c("net: tidy", "No trailer.\n"), None);
    // A reland is a fix only if it has a trailer.
    assert_eq!(
        c("Reland \"net: x\"", "This reverts commit a1b2c3d4e5f6.\n"),
        None
    );
}

#[test]
fn phabricator_exported_reverts() {
    // Recognised as reverts; backing out a revert re-lands.
    assert!(is_revert("Back out \"Add the widget cache\"", ""));
    assert!(is_revert("Revert D1234: Add the widget cache", ""));
    assert!(is_revert("Reverting D1234", ""));
    assert!(!is_revert("Reverting defaults on error", ""));
    // Reverting a reland backs out a broken change again.
    assert!(is_revert("Revert \"Reapply \"Add the widget cache\"\"", ""));
    assert!(!is_reland("Revert \"Reapply \"Add the widget cache\"\""));
    assert!(!is_revert("Back out \"Revert D1234\"", ""));
    assert!(is_git_revert_subject(
        "Back out \"Add the widget cache\" (#7)"
    ));
    assert_eq!(
        quoted_subject("Back out \"Add the widget cache\""),
        Some("Add the widget cache")
    );
    // Targets: review numbers from the subject, then from the body.
    let t = |s: &str, b: &str| revert_targets(s, b);
    assert_eq!(
        t("Revert D1234: Add the widget cache (#40)", ""),
        vec![Target::Review(1234)]
    );
    assert_eq!(
        t("Back out D11 and D12 (#41)", ""),
        vec![Target::Review(11), Target::Review(12)]
    );
    assert_eq!(
        t(
            "Back out \"Add the widget cache\"",
            "Summary:\nOriginal commit changeset: 5\n\nOriginal Phabricator Diff: D77\n"
        ),
        vec![Target::Review(77)]
    );
    assert_eq!(
        t("Fix the cache", "This diff reverts D99\nDepends on D98\n"),
        vec![Target::Review(99)]
    );
    // A commit or pull-request target still wins; "Depends on" names none.
    assert_eq!(
        t("Revert D5", "This reverts commit 0c1d2e3.\n"),
        vec![Target::Commit("0c1d2e3".into())]
    );
    assert!(t("Add the widget cache", "Depends on D98\n").is_empty());
    // The review a commit landed through.
    assert_eq!(
        differential_revision("x\n\nDifferential Revision: D4321\n"),
        Some(4321)
    );
    assert_eq!(
        differential_revision("x\n\nDifferential Revision: https://example.com/D55"),
        Some(55)
    );
    assert_eq!(differential_revision("x\n\nSee D55 for more.\n"), None);
    // A revert naming the review names the culprit (a leak guard).
    let n = CulpritNames::new(
        CULPRIT,
        "widget/core: cache the frame layout",
        "widget/core: cache the frame layout\n\nDifferential Revision: D1234\n",
    );
    assert!(names_culprit("Regressed by D1234.", &n));
    assert!(!names_culprit("Regressed by D12345.", &n));
    // The export's boilerplate is no reason; the prose around it is.
    let body = "Summary:\nThis diff reverts D1234\nDepends on D1200\n\nCrashes the widget demo on start.\n\nTest Plan: sandcastle\n\nDifferential Revision: D1300\n";
    assert_eq!(revert_reason(body), "Crashes the widget demo on start.");
    let body = "Summary:\nX-link: https://example.com/widgets/pull/8\n\nThe widget demo hangs.\n\nOriginal commit changeset: 0c1d2e3f\n\nOriginal Phabricator Diff: D77\n\n(Note: this ignores all push blocking failures!)\n";
    assert_eq!(revert_reason(body), "The widget demo hangs.");
    // An automatic bisection's blame names a change; its test list stays.
    let body = "Summary:\nThis diff is reverting D77\nD76: Cache the widget by someone has been identified to be causing the following test or build failures:\n\nTests affected:\n- widget_test\n";
    assert_eq!(revert_reason(body), "widget_test");
}
