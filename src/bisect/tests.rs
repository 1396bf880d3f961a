use super::*;
use crate::train::examples::Rng;

/// A main line of `n` commits, index 0 newest (the tip), each the parent
/// of the one before it.
fn line(n: usize, base: bool) -> Graph {
    let ids = (0..n).map(|i| format!("{i:040x}")).collect();
    let parents: Vec<Vec<usize>> = (0..n)
        .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
        .collect();
    Graph::new(ids, &parents, 0, base.then(|| "f".repeat(40))).unwrap()
}

const QUIET: Noise = Noise {
    false_fail: 0.0,
    false_pass: 0.0,
};

/// The model's default rates.
const NOISY: Noise = Noise {
    false_fail: 0.01,
    false_pass: 0.01,
};

fn limits(jobs: usize) -> Limits {
    Limits {
        confidence: 0.95,
        max_runs: 60,
        jobs,
    }
}

fn oracle(graph: &Graph, culprit: usize, noise: Noise, seed: u64) -> Oracle<'_> {
    Oracle {
        graph,
        culprit,
        noise,
        rng: Rng::new(seed),
    }
}

#[test]
fn ancestry_follows_parents_through_a_merge() {
    // 0 (merge) ← 1 (main) ← 3; 0 ← 2 (branch) ← 3
    let ids = (0..4).map(|i| format!("{i:040x}")).collect();
    let g = Graph::new(ids, &[vec![1, 2], vec![3], vec![3], vec![]], 0, None).unwrap();
    assert!(g.contains(0, 2) && g.contains(0, 3) && g.contains(2, 3));
    assert!(
        !g.contains(1, 2),
        "a branch commit is not in the main line before the merge"
    );
    assert!(!g.contains(3, 1));
}

#[test]
fn a_flat_search_finds_the_culprit_in_about_log2_runs() {
    let g = line(128, true);
    for culprit in [0, 1, 37, 64, 126, 127] {
        let mut o = oracle(&g, culprit, QUIET, 1);
        let (runs, _, verdict) = simulate_search(&mut o, &vec![1.0; 128], NOISY, &limits(1));
        assert_eq!(
            verdict,
            Some(Hypothesis::Commit(culprit)),
            "culprit {culprit}"
        );
        assert!((7..=12).contains(&runs), "culprit {culprit}: {runs} runs");
    }
}

#[test]
fn a_good_prior_saves_runs_and_a_wrong_one_costs_little() {
    let g = line(128, true);
    let right = ranking_prior(128, &[(37, 0.6), (12, 0.2)], 0.1);
    let (runs, _, verdict) =
        simulate_search(&mut oracle(&g, 37, QUIET, 1), &right, NOISY, &limits(1));
    assert_eq!(verdict, Some(Hypothesis::Commit(37)));
    assert!(runs <= 3, "{runs} runs with the culprit ranked first");
    let wrong = ranking_prior(128, &[(90, 0.6), (12, 0.2)], 0.1);
    let (runs, _, verdict) =
        simulate_search(&mut oracle(&g, 37, QUIET, 1), &wrong, NOISY, &limits(1));
    assert_eq!(verdict, Some(Hypothesis::Commit(37)));
    assert!(runs <= 14, "{runs} runs with a wrong prior");
}

#[test]
fn flaky_runs_are_outvoted() {
    let g = line(200, true);
    let noise = Noise {
        false_fail: 0.0,
        false_pass: 0.2,
    };
    let mut found = 0;
    for seed in 0..40 {
        let culprit = (seed as usize * 37) % 200;
        let mut o = oracle(&g, culprit, noise, seed);
        let (_, _, verdict) = simulate_search(&mut o, &vec![1.0; 200], noise, &limits(1));
        found += usize::from(verdict == Some(Hypothesis::Commit(culprit)));
    }
    assert!(
        found >= 37,
        "found {found} of 40 with 20% of bad runs passing"
    );
    // git bisect without reruns goes wrong on the same noise.
    let mut wrong = 0;
    for seed in 0..40 {
        let culprit = (seed as usize * 37) % 200;
        let (_, named) = simulate_git_bisect(&mut oracle(&g, culprit, noise, seed), 1);
        wrong += usize::from(named != culprit);
    }
    assert!(wrong >= 5, "git bisect was wrong {wrong} times");
}

#[test]
fn git_bisect_halves_a_line() {
    let g = line(1024, true);
    let (runs, named) = simulate_git_bisect(&mut oracle(&g, 300, QUIET, 0), 1);
    assert_eq!(named, 300);
    assert_eq!(runs, 10);
}

#[test]
fn batches_are_informative_together() {
    let g = line(256, true);
    let search = Search::new(&g, &vec![1.0; 256], NOISY);
    let batch = search.next(3);
    assert_eq!(batch.len(), 3);
    let mut targets: Vec<Target> = batch.iter().map(|c| c.target).collect();
    targets.dedup();
    assert_eq!(targets.len(), 3, "three different commits: {batch:?}");
    // Three runs split the line in about four: close to 2 bits.
    assert!(batch[2].bits > 1.8, "{batch:?}");
    let (runs, _, verdict) = simulate_search(
        &mut oracle(&g, 99, QUIET, 3),
        &vec![1.0; 256],
        NOISY,
        &limits(4),
    );
    assert_eq!(verdict, Some(Hypothesis::Commit(99)));
    assert!(runs <= 24, "{runs} runs in batches of 4");
}

/// A search over a line of `n` commits whose every run says `outcome`:
/// why it stopped, the verdict, and the runs.
fn always(n: usize, base: bool, outcome: Outcome) -> (Stop, Hypothesis, usize) {
    let g = line(n, base);
    let mut search = Search::new(&g, &vec![1.0; n], NOISY);
    let (stop, runs) = drive(
        &mut search,
        &limits(1),
        |batch| Ok(vec![outcome; batch.len()]),
        |_, _| {},
    )
    .unwrap();
    (stop, search.best().0, runs)
}

#[test]
fn failing_everywhere_blames_the_time_before_the_window() {
    let (stop, verdict, _) = always(50, true, Outcome::Fail);
    assert_eq!((stop, verdict), (Stop::Confident, Hypothesis::BeforeWindow));
}

#[test]
fn passing_everywhere_says_nothing_fails() {
    let (stop, verdict, runs) = always(50, false, Outcome::Pass);
    assert_eq!((stop, verdict), (Stop::Confident, Hypothesis::NoFailure));
    assert!(runs < 20, "{runs}");
}

#[test]
fn skipped_commits_are_not_chosen_again_and_can_leave_it_undecided() {
    let (stop, _, runs) = always(8, true, Outcome::Skip);
    assert_eq!(stop, Stop::NothingToTest);
    assert_eq!(runs, 9, "each of 8 commits and the base once");
}

#[test]
fn a_window_of_one_commit() {
    let g = line(1, true);
    let (runs, _, verdict) =
        simulate_search(&mut oracle(&g, 0, QUIET, 0), &[1.0], NOISY, &limits(1));
    assert_eq!(verdict, Some(Hypothesis::Commit(0)));
    assert!(runs <= 2);
}

#[test]
fn the_ranking_prior_keeps_a_floor_for_unranked_commits() {
    let prior = ranking_prior(10, &[(3, 0.5), (4, 0.3)], 0.1);
    assert!((prior.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(prior[3] > prior[4] && prior[4] > prior[0]);
    assert!(prior[0] >= 0.1 / 10.0);
}
