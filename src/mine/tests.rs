//! Unit tests of the mining rules: trailers, revert forms, cleaning,
//! sentences, symptoms, leak guards and team hints.

use super::*;

const CULPRIT: &str = "0111a74e13dd0c8fd5cdb240965d9a9857a12ee9";

fn names() -> CulpritNames {
    CulpritNames::new(CULPRIT, "common/mlx5: adjust DevX mkey fields for crypto")
}

#[test]
fn fixes_trailers_in_their_forms() {
    let body =
        "Text.\n\nFixes: 0111a74e13dd (\"common/mlx5: adjust\")\nFixes: 24c7759\nCc: stable\n";
    assert_eq!(fixes_targets(body), vec!["0111a74e13dd", "24c7759"]);
    // The id on the next line, after "commit".
    let body = "Fixes:\ncommit 110d321a56c3 (\"board: phytec\")\n";
    assert_eq!(fixes_targets(body), vec!["110d321a56c3"]);
    // Issues, URLs, quoted trailers and short hex name no commit.
    let body = "Fixes: #1234\nFixes: https://example.com/x\n> Fixes: 0111a74e13dd\nFixes: abc12\n";
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
    assert!(is_revert("Fix", "This reverts commit 0111a74e."));
    assert!(!is_revert(
        "Reverting state on error",
        "Keeps the old state."
    ));
    assert_eq!(
        t(
            "Revert \"x\"",
            "This reverts commit 0111a74e13dd0c8f.\n\nBreaks boot."
        ),
        vec![Target::Commit("0111a74e13dd0c8f".into())]
    );
    assert_eq!(
        t(
            "Revert \"x\" (#12)",
            "Reverts pytorch/executorch#11286\n\nBroke tests."
        ),
        vec![Target::Pull(11286)]
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
            "Revert \"Add a pass (#8529)\" (#8641)",
            "Causes a regression."
        ),
        vec![Target::Pull(8529)]
    );
    // A subject cut by GitHub, continued in the body.
    assert_eq!(
        t(
            "Revert \"Supporting host memory via external buff… (#11895)",
            "…ers. (#11848)\"\n\nSlow."
        ),
        vec![Target::Pull(11848)]
    );
    // The commit form wins over the others; no target at all is empty.
    assert_eq!(
        t("Revert \"a (#1)\"", "This reverts commit 7dbbb6f.\n"),
        vec![Target::Commit("7dbbb6f".into())]
    );
    assert!(t("Revert \"a\"", "It broke things.").is_empty());
    // Several commits.
    assert_eq!(
        t(
            "Revert \"a\" and \"b\"",
            "This reverts commit 0a7cea8ca6bc and\n310a05d395e6. It broke CI."
        ),
        vec![
            Target::Commit("0a7cea8ca6bc".into()),
            Target::Commit("310a05d395e6".into())
        ]
    );
    // Relands are not reverts.
    assert!(!is_revert(
        "Revert \"Revert \"x\"\"",
        "This reverts commit 0111a74e."
    ));
    assert!(!is_revert(
        "Reapply \"x\" (#15737)",
        "This reverts https://github.com/o/r/pull/15681."
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
        strip_subject_tags("[Codegen] Fix tiling"),
        "[Codegen] Fix tiling"
    );
    assert_eq!(
        fix_title("mmc: tmio: Use IS_ENABLED() for CONFIG_ (#123)"),
        "mmc: tmio: Use IS_ENABLED for CONFIG_"
    );
}

#[test]
fn cleaning_strips_links_ids_and_references() {
    assert_eq!(
        clean_text("breaks Perf bots:\nhttps://ci.chromium.org/ui/p/angle/4958/overview"),
        "breaks Perf bots"
    );
    assert_eq!(
        clean_text("blocks roll into Chrome - anglebug.com/6922"),
        "blocks roll into Chrome"
    );
    assert_eq!(
        clean_text("Breaking internal tests: [D75980858](https://x.example/D1)"),
        "Breaking internal tests"
    );
    assert_eq!(
        clean_text("Fails after 0111a74e13dd landed (see b/166641492)."),
        "Fails after landed (see)."
    );
    assert_eq!(
        clean_text("Bug angleproject:3778 and Change I8892b438b3b05a3ce4e14f8c0769b81722688da8"),
        "Bug and Change"
    );
    assert_eq!(
        clean_text("Reverted in #1234 and iree-org/iree#99, see crrev.com/c/8071214"),
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
    // Numbers and words made of hex letters stay.
    assert_eq!(
        clean_text("load at 0x701c0000 after 1000000 facade"),
        "load at 0x701c0000 after 1000000 facade"
    );
}

#[test]
fn sentences_split_on_capitals_only() {
    assert_eq!(
        sentences("Coverity reports a null value. This patch fixes this."),
        vec!["Coverity reports a null value.", "This patch fixes this."]
    );
    assert_eq!(sentences("Fix issues. ocm_mask is written twice.").len(), 1);
    assert_eq!(
        sentences("It fails, e.g. On Linux. (Plans exist.)").len(),
        2
    );
    assert_eq!(
        sentences("Breaks capture:\nINFO: Crashed: 0"),
        vec!["Breaks capture: INFO: Crashed: 0"]
    );
}

#[test]
fn symptoms_are_word_starts() {
    assert!(has_symptom("Causes rendering issues in Manhattan."));
    assert!(has_symptom("A53 U-Boot proper got broken."));
    assert!(has_symptom("dereferenced with NULL value"));
    assert!(!has_symptom(
        "The doc string was left to its previous definition."
    ));
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
    assert!(names_culprit("Fixes regression from 0111a74e13", &n));
    assert!(names_culprit(
        "Revert \"common/mlx5: adjust DevX mkey fields for crypto\"",
        &n
    ));
    assert!(!names_culprit(
        "0111a74 is too short to be a prefix? no: 7 is enough",
        &CulpritNames::new("ffff", "x")
    ));
    assert!(!names_culprit(
        "common/mlx5: fix mkey attributes initialization",
        &n
    ));
    let pr = CulpritNames::new(CULPRIT, "Add a pass to bufferize (#8529)");
    assert!(pr.subjects.contains(&"add a pass to bufferize".to_owned()));
    assert!(names_culprit("Breaks #8529 users", &pr));
    assert!(!names_culprit("Breaks #85290 users", &pr));
}

#[test]
fn fix_impact_is_a_symptom_sentence() {
    let n = names();
    let body = "\nCoverity reports that pointer \"x\" may be\ndereferenced with null value. This patch fixes this.\n\nFixes: 5ed30db87fa8 (\"y\")\n";
    assert_eq!(
        fix_impact(body, &n).as_deref(),
        Some("Coverity reports that pointer \"x\" may be dereferenced with null value.")
    );
    // No symptom, the change itself, the culprit named, trailers only.
    assert_eq!(
        fix_impact(
            "\nThe doc string was left to its previous definition.\n",
            &n
        ),
        None
    );
    assert_eq!(
        fix_impact("\nThis patch fixes a compile error.\n", &n),
        None
    );
    assert_eq!(
        fix_impact("\nCommit 0111a74e13dd introduced build errors.\n", &n),
        None
    );
    assert_eq!(
        fix_impact("\nFixes: 0111a74e13dd\nSigned-off-by: A <a@b>\n", &n),
        None
    );
}

#[test]
fn revert_reasons_lose_their_boilerplate() {
    let angle = "\nThis reverts commit 048547e743b655d12ad44bb3e63766b7b96cd9a0.\n\nReason for revert: crashes on Debug bots (at least Mac)\n\n> Enable EVENT trace\n> \n> Bug: angleproject:3778\n\nTBR=a@example.com\n\n# Not skipping CQ checks because original CL landed > 1 day ago.\n";
    assert_eq!(revert_reason(angle), "crashes on Debug bots (at least Mac)");
    let iree = "\nThis reverts commit 25bead3186a1190b9ab1f16fdf14d57c1f9f351e,\nwhich breaks IREE's own Tracy build targets.\n";
    assert_eq!(
        revert_reason(iree),
        "breaks IREE's own Tracy build targets."
    );
    let pr = "\nReverts openxla/iree#16500 due to CUDA codegen issue.\n";
    assert_eq!(revert_reason(pr), "CUDA codegen issue.");
    let summary = "\n…sing only cores (#14090)\"\n\nThis reverts commit 72d50b2f.\n\n### Summary\nSeeing crashes in macos unittest job.\n\n### Test plan\nCI\n";
    assert_eq!(
        revert_reason(summary),
        "Seeing crashes in macos unittest job."
    );
    let code =
        "\nReverts a/b#1\n\nRunners fail installing `git-lfs`. Logs:\n```\nE: Unable\n```\nMore.\n";
    assert_eq!(
        revert_reason(code),
        "Runners fail installing `git-lfs`. Logs:"
    );
    assert!(!has_reason(&revert_reason(
        "\nThis reverts commit 048547e743b6.\n"
    )));
    assert!(!has_reason(&revert_reason(
        "\nReverts iree-org/iree#11594\n\n---------\n\nCo-authored-by: A <a@b>\n"
    )));
    assert!(has_reason(&revert_reason("\nNumerical issues reported.\n")));
}

#[test]
fn revert_title_is_the_symptom_sentence() {
    let n = names();
    let reason = "When we think of Kconfig, we think of features. Ideally, we wouldn't use Kconfig to fix a build issue. With Kconfig it's hard to guarantee that the fix is universal.";
    let rest = "With Kconfig it's hard to guarantee that the fix is universal.";
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
    assert_eq!(
        title,
        "Ideally, we wouldn't use Kconfig to fix a build issue."
    );
    assert_eq!(impact, None);
    // A short leftover is no impact.
    let facts = revert_facts("Suspected for angle_perftests failure. See issue.", &n);
    assert_eq!(facts.unwrap().1, None);
    // No symptom at all: no case.
    assert_eq!(
        revert_facts("Not ready yet. Landed by accident.", &n),
        Err(Dropped::RevertWithoutSymptom)
    );
    // The title naming the culprit drops the case.
    assert_eq!(
        revert_facts("0111a74e13dd breaks the boot.", &n),
        Err(Dropped::LeakyTitle)
    );
    // A link holding the id is no leak: links are stripped.
    let linked = revert_facts(
        "Breaks tests: https://ci.example/commit/0111a74e13dd0c8f",
        &n,
    );
    assert_eq!(linked.unwrap().0, "Breaks tests");
    // A later sentence naming it drops only the impact.
    let facts = revert_facts(
        "Breaks the boot. Bisected to common/mlx5: adjust DevX mkey fields for crypto today.",
        &n,
    );
    assert_eq!(facts.unwrap(), ("Breaks the boot.".to_owned(), None));
}

#[test]
fn names_from_paths() {
    use std::path::Path;
    assert_eq!(
        names_for(Path::new("/m/u-boot+u-boot/repo")),
        ("u-boot/u-boot".into(), "uboot".into())
    );
    assert_eq!(
        names_for(Path::new("/src/dpdk/.git")),
        ("dpdk".into(), "dpdk".into())
    );
    assert_eq!(
        names_for(Path::new("/src/angle.git")),
        ("angle".into(), "angle".into())
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
        c("net: fix x", "Fixes: 0111a74e13dd\n"),
        Some((Source::FixesTrailer, 1))
    );
    assert_eq!(
        c(
            "Revert \"net: x\"",
            "This reverts commit 0111a74e13dd.\n\nFixes: 24c7759aa\n"
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
        c("Reland \"net: x\"", "This reverts commit 0111a74e13dd.\n"),
        None
    );
}
