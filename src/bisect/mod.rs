//! Bisection with a prior: which commit of the window makes a command fail.
//!
//! `rca bisect` hands the ranking to a Bayesian search (after flake-aware
//! culprit finding: a posterior over the culprit, a noise model for the
//! test, and the next commit chosen for the information it is expected to
//! give).
//!
//! - **Hypotheses.** The culprit is one commit of the window, or it is
//!   older than the window ([`Hypothesis::BeforeWindow`]: everything fails,
//!   even the base), or nothing in the window fails at all
//!   ([`Hypothesis::NoFailure`]: even the tip passes). The two outside
//!   hypotheses start with [`OUTSIDE_PRIOR`] each.
//! - **Model.** A commit is bad when the culprit is the commit itself or one
//!   of its ancestors inside the window, so a commit merged in by a merge is
//!   tested inside its branch, as `git bisect` does. A bad commit's run
//!   passes with probability `false_pass`; a good commit's run fails with
//!   probability `false_fail` (a flake). Both are at least [`MIN_NOISE`], so
//!   one wrong run can always be outvoted.
//! - **Search.** The next commit is the one whose run is expected to tell
//!   the most about the culprit (mutual information between the run's
//!   result and the hypothesis). A batch of `jobs` commits is chosen
//!   greedily for the information of the batch as a whole. A commit can be
//!   chosen again: with noise, a second run is evidence too.
//!
//! Everything here works over plain data ([`Graph`], priors, results); the
//! runs themselves are in [`scratch`], the command in `cmd::bisect`.

pub mod scratch;

use crate::error::input;
use anyhow::Result;
use git2::{Oid, Repository};
use std::collections::HashMap;

/// Prior of each outside hypothesis (culprit older than the window; no
/// failure in the window at all).
pub const OUTSIDE_PRIOR: f64 = 0.01;
/// The smallest noise rate the model uses.
pub const MIN_NOISE: f64 = 0.001;
/// The most commits a window may hold (the ancestry matrix is n² bits).
pub const MAX_COMMITS: usize = 30_000;
/// The most runs of one batch.
pub const MAX_JOBS: usize = 8;
/// A batch is chosen among this many of the most informative single runs.
const BATCH_POOL: usize = 32;

/// The window's commits and which of them each one contains.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Full commit ids; an index into this is a commit.
    pub ids: Vec<String>,
    /// Row `c`: the commits of the window that are `c` or its ancestors.
    ancestors: Vec<Vec<u64>>,
    /// Each commit's parents inside the window.
    parents: Vec<Vec<usize>>,
    /// The window's newest main-line commit: where the incident was seen.
    pub tip: usize,
    /// The last main-line commit before the window, when the repository
    /// has it: testing it checks that the culprit is in the window.
    pub base: Option<String>,
}

impl Graph {
    /// Builds the graph from each commit's parents (indices into `ids`;
    /// parents outside the window left out).
    pub fn new(
        ids: Vec<String>,
        parents: &[Vec<usize>],
        tip: usize,
        base: Option<String>,
    ) -> Result<Graph> {
        let n = ids.len();
        if n == 0 || tip >= n || parents.len() != n {
            return Err(input("bisect: the window holds no commits"));
        }
        if n > MAX_COMMITS {
            return Err(input(format!(
                "the window holds {n} commits, more than bisect takes ({MAX_COMMITS}): narrow --since"
            )));
        }
        let words = n.div_ceil(64);
        let mut ancestors: Vec<Vec<u64>> = vec![Vec::new(); n];
        // Iterative depth-first walk: a commit's row is filled after its
        // parents' rows.
        let mut state = vec![0u8; n]; // 0 new, 1 open, 2 done
        for root in 0..n {
            let mut stack = vec![root];
            while let Some(&c) = stack.last() {
                match state[c] {
                    0 => {
                        state[c] = 1;
                        stack.extend(parents[c].iter().copied().filter(|&p| state[p] == 0));
                    }
                    1 => {
                        let mut row = vec![0u64; words];
                        row[c / 64] |= 1 << (c % 64);
                        for &p in &parents[c] {
                            if state[p] == 2 {
                                for (w, pw) in row.iter_mut().zip(&ancestors[p]) {
                                    *w |= pw;
                                }
                            }
                        }
                        ancestors[c] = row;
                        state[c] = 2;
                        stack.pop();
                    }
                    _ => {
                        stack.pop();
                    }
                }
            }
        }
        Ok(Graph {
            ids,
            ancestors,
            parents: parents.to_vec(),
            tip,
            base,
        })
    }

    /// Reads the window from the repository: every commit reachable from
    /// `tip` but not from `base` (`git rev-list tip ^base`), merges
    /// included, as `git bisect` sees it. Without a base, the whole history
    /// behind the tip.
    pub fn from_repository(repo: &Repository, tip: &str, base: Option<&str>) -> Result<Graph> {
        let mut walk = repo.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
        walk.push(Oid::from_str(tip)?)?;
        if let Some(base) = base {
            walk.hide(Oid::from_str(base)?)?;
        }
        let mut ids = Vec::new();
        for id in walk {
            // A shallow clone's edge ends the walk early; what was read is
            // still a window.
            let Ok(id) = id else { break };
            ids.push(id);
            if ids.len() > MAX_COMMITS {
                return Err(input(format!(
                    "the window holds more than {MAX_COMMITS} commits, more than bisect takes: narrow --since"
                )));
            }
        }
        let index: HashMap<Oid, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let parents: Vec<Vec<usize>> = ids
            .iter()
            .map(|&id| {
                Ok(repo
                    .find_commit(id)?
                    .parent_ids()
                    .filter_map(|p| index.get(&p).copied())
                    .collect())
            })
            .collect::<Result<_>>()?;
        let tip = index[&Oid::from_str(tip)?];
        Graph::new(
            ids.iter().map(Oid::to_string).collect(),
            &parents,
            tip,
            base.map(str::to_owned),
        )
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether `ancestor` is `commit` or one of its ancestors.
    pub fn contains(&self, commit: usize, ancestor: usize) -> bool {
        self.ancestors[commit][ancestor / 64] >> (ancestor % 64) & 1 == 1
    }

    /// The commits `commit` contains (itself included).
    fn contained(&self, commit: usize) -> impl Iterator<Item = usize> + '_ {
        self.ancestors[commit]
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| {
                let mut bits = word;
                std::iter::from_fn(move || {
                    (bits != 0).then(|| {
                        let b = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        w * 64 + b
                    })
                })
            })
    }
}

/// What may have made the command fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hypothesis {
    /// This commit of the window (an index into [`Graph::ids`]).
    Commit(usize),
    /// A commit older than the window: even the base fails.
    BeforeWindow,
    /// Nothing fails: even the tip passes.
    NoFailure,
}

/// What one run tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Commit(usize),
    /// The last main-line commit before the window.
    Base,
}

/// The test's error rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Chance that a good commit's run fails (a flake).
    pub false_fail: f64,
    /// Chance that a bad commit's run passes.
    pub false_pass: f64,
}

impl Noise {
    fn clamped(self) -> Noise {
        Noise {
            false_fail: self.false_fail.clamp(MIN_NOISE, 0.499),
            false_pass: self.false_pass.clamp(MIN_NOISE, 0.499),
        }
    }

    /// Chance of a failing run given whether the commit is bad.
    fn p_fail(&self, bad: bool) -> f64 {
        if bad {
            1.0 - self.false_pass
        } else {
            self.false_fail
        }
    }
}

/// One candidate run, with what the search expects of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub target: Target,
    /// Chance, under the posterior, that the commit is bad.
    pub p_bad: f64,
    /// Expected information of the run (of the batch so far, for the
    /// later members of a batch), in bits.
    pub bits: f64,
}

/// The posterior over the culprit and what has been learned.
#[derive(Debug, Clone)]
pub struct Search<'g> {
    graph: &'g Graph,
    /// Over commits, then BeforeWindow, then NoFailure.
    posterior: Vec<f64>,
    noise: Noise,
    /// Commits (and the base, last) whose command said "cannot test".
    untestable: Vec<bool>,
    /// Failing and passing runs seen per commit (and the base, last).
    seen: Vec<[u32; 2]>,
}

impl<'g> Search<'g> {
    /// Starts from a prior over the window's commits (any non-negative
    /// weights; normalised here) and the outside hypotheses' own prior.
    pub fn new(graph: &'g Graph, prior: &[f64], noise: Noise) -> Search<'g> {
        let n = graph.len();
        let total: f64 = prior.iter().take(n).map(|p| p.max(0.0)).sum();
        let inside = 1.0
            - OUTSIDE_PRIOR
            - if graph.base.is_some() {
                OUTSIDE_PRIOR
            } else {
                0.0
            };
        let mut posterior: Vec<f64> = (0..n)
            .map(|c| {
                let p = prior.get(c).copied().unwrap_or(0.0).max(0.0);
                if total > 0.0 {
                    inside * p / total
                } else {
                    inside / n as f64
                }
            })
            .collect();
        posterior.push(if graph.base.is_some() {
            OUTSIDE_PRIOR
        } else {
            0.0
        });
        posterior.push(OUTSIDE_PRIOR);
        let mut untestable = vec![false; n + 1];
        untestable[n] = graph.base.is_none();
        Search {
            graph,
            posterior,
            noise: noise.clamped(),
            untestable,
            seen: vec![[0, 0]; n + 1],
        }
    }

    fn hypothesis(&self, h: usize) -> Hypothesis {
        let n = self.graph.len();
        match h {
            h if h < n => Hypothesis::Commit(h),
            h if h == n => Hypothesis::BeforeWindow,
            _ => Hypothesis::NoFailure,
        }
    }

    /// Whether `target` is bad under hypothesis index `h`.
    fn bad(&self, target: Target, h: usize) -> bool {
        let n = self.graph.len();
        match (target, h) {
            (_, h) if h == n => true,
            (_, h) if h == n + 1 => false,
            (Target::Commit(t), h) => self.graph.contains(t, h),
            (Target::Base, _) => false,
        }
    }

    /// Chance under the posterior that `target` is bad.
    pub fn p_bad(&self, target: Target) -> f64 {
        let n = self.graph.len();
        let before = self.posterior[n];
        match target {
            Target::Base => before,
            Target::Commit(t) => {
                before
                    + self
                        .graph
                        .contained(t)
                        .map(|c| self.posterior[c])
                        .sum::<f64>()
            }
        }
    }

    /// Expected information (bits) of one run of a commit that is bad with
    /// probability `p_bad`.
    fn bits(&self, p_bad: f64) -> f64 {
        let fail = p_bad * self.noise.p_fail(true) + (1.0 - p_bad) * self.noise.p_fail(false);
        entropy(fail)
            - p_bad * entropy(self.noise.p_fail(true))
            - (1.0 - p_bad) * entropy(self.noise.p_fail(false))
    }

    fn testable(&self, target: Target) -> bool {
        !self.untestable[self.slot(target)]
    }

    /// Every run still possible, most informative first (ties: the lower
    /// index, so the order is the same on every run).
    pub fn choices(&self) -> Vec<Choice> {
        let mut choices: Vec<Choice> = (0..self.graph.len())
            .map(Target::Commit)
            .chain(std::iter::once(Target::Base))
            .filter(|&t| self.testable(t))
            .map(|target| {
                let p_bad = self.p_bad(target);
                Choice {
                    target,
                    p_bad,
                    bits: self.bits(p_bad),
                }
            })
            .collect();
        choices.sort_by(|a, b| b.bits.total_cmp(&a.bits).then(a.target.cmp(&b.target)));
        choices
    }

    /// The next `jobs` runs: the most informative one, then greedily the
    /// run that adds the most to the batch's joint information. Empty when
    /// nothing can be tested.
    pub fn next(&self, jobs: usize) -> Vec<Choice> {
        let choices = self.choices();
        // The pool: the most informative single runs, and runs that cut the
        // posterior at every level (a batch wants quartiles, not medians).
        let mut pool: Vec<Choice> = choices.iter().take(BATCH_POOL).copied().collect();
        if jobs > 1 {
            for level in 1..BATCH_POOL * 2 {
                let cut = level as f64 / (BATCH_POOL * 2) as f64;
                if let Some(near) = choices
                    .iter()
                    .min_by(|a, b| (a.p_bad - cut).abs().total_cmp(&(b.p_bad - cut).abs()))
                {
                    if !pool.iter().any(|c| c.target == near.target) {
                        pool.push(*near);
                    }
                }
            }
        }
        let mut batch: Vec<Choice> = pool.first().copied().into_iter().collect();
        while batch.len() < jobs.clamp(1, MAX_JOBS) && !pool.is_empty() {
            let mut targets: Vec<Target> = batch.iter().map(|c| c.target).collect();
            targets.push(pool[0].target);
            let mut best: Option<Choice> = None;
            for candidate in &pool {
                *targets.last_mut().expect("pushed") = candidate.target;
                let bits = self.joint_bits(&targets);
                if best.is_none_or(|b| bits > b.bits + 1e-12) {
                    best = Some(Choice { bits, ..*candidate });
                }
            }
            batch.extend(best);
        }
        batch
    }

    /// Mutual information between the hypothesis and the results of runs
    /// of `targets` together.
    pub fn joint_bits(&self, targets: &[Target]) -> f64 {
        // Ordered, so that sums run in the same order on every run.
        let mut classes: std::collections::BTreeMap<u32, f64> = Default::default();
        for (h, &mass) in self.posterior.iter().enumerate() {
            if mass > 0.0 {
                let pattern = targets
                    .iter()
                    .enumerate()
                    .fold(0u32, |acc, (i, &t)| acc | u32::from(self.bad(t, h)) << i);
                *classes.entry(pattern).or_default() += mass;
            }
        }
        let k = targets.len();
        let conditional: f64 = classes
            .iter()
            .map(|(&pattern, &mass)| {
                mass * (0..k)
                    .map(|i| entropy(self.noise.p_fail(pattern >> i & 1 == 1)))
                    .sum::<f64>()
            })
            .sum();
        let marginal: f64 = (0..1u32 << k)
            .map(|outcome| {
                let p: f64 = classes
                    .iter()
                    .map(|(&pattern, &mass)| {
                        mass * (0..k)
                            .map(|i| {
                                let fail = self.noise.p_fail(pattern >> i & 1 == 1);
                                if outcome >> i & 1 == 1 {
                                    fail
                                } else {
                                    1.0 - fail
                                }
                            })
                            .product::<f64>()
                    })
                    .sum();
                -xlog2x(p)
            })
            .sum();
        marginal - conditional
    }

    fn slot(&self, target: Target) -> usize {
        match target {
            Target::Commit(c) => c,
            Target::Base => self.graph.len(),
        }
    }

    /// The run that a verdict for `hypothesis` still lacks, if any: as with
    /// `git bisect`, a culprit is a commit seen failing whose parents were
    /// seen passing (the base stands for parents before the window); the
    /// time before the window needs the base seen failing, and "nothing
    /// fails" the tip seen passing. Runs that cannot be made (skipped, or
    /// no base) are not asked for.
    pub fn missing_evidence(&self, hypothesis: Hypothesis) -> Option<Target> {
        let graph = self.graph;
        let wanted: Vec<(Target, bool)> = match hypothesis {
            Hypothesis::Commit(c) => {
                let mut wanted = vec![(Target::Commit(c), true)];
                if graph.parents[c].is_empty() {
                    wanted.push((Target::Base, false));
                }
                wanted.extend(graph.parents[c].iter().map(|&p| (Target::Commit(p), false)));
                wanted
            }
            Hypothesis::BeforeWindow => vec![(Target::Base, true)],
            Hypothesis::NoFailure => vec![(Target::Commit(graph.tip), false)],
        };
        wanted.into_iter().find_map(|(target, fail)| {
            let seen = self.seen[self.slot(target)][usize::from(!fail)];
            (seen == 0 && self.testable(target)).then_some(target)
        })
    }

    /// Updates the posterior with one run's result.
    pub fn observe(&mut self, target: Target, failed: bool) {
        let slot = self.slot(target);
        self.seen[slot][usize::from(!failed)] += 1;
        for h in 0..self.posterior.len() {
            let fail = self.noise.p_fail(self.bad(target, h));
            self.posterior[h] *= if failed { fail } else { 1.0 - fail };
        }
        let total: f64 = self.posterior.iter().sum();
        if total > 0.0 {
            self.posterior.iter_mut().for_each(|p| *p /= total);
        }
    }

    /// The command cannot test `target` (exit 125): it is not chosen again.
    pub fn skip(&mut self, target: Target) {
        let slot = self.slot(target);
        self.untestable[slot] = true;
    }

    /// The `k` most probable hypotheses, most probable first.
    pub fn top(&self, k: usize) -> Vec<(Hypothesis, f64)> {
        let mut order: Vec<usize> = (0..self.posterior.len()).collect();
        order.sort_by(|&a, &b| {
            self.posterior[b]
                .total_cmp(&self.posterior[a])
                .then(a.cmp(&b))
        });
        order
            .into_iter()
            .take(k)
            .map(|h| (self.hypothesis(h), self.posterior[h]))
            .collect()
    }

    /// The most probable hypothesis.
    pub fn best(&self) -> (Hypothesis, f64) {
        self.top(1)[0]
    }
}

/// What one run said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// The command could not test this commit (exit 125).
    Skip,
}

/// When the search stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Stop when one hypothesis reaches this posterior probability.
    pub confidence: f64,
    /// Stop after this many runs (skips count).
    pub max_runs: usize,
    /// Runs per batch.
    pub jobs: usize,
}

/// Why the search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// One hypothesis reached the confidence.
    Confident,
    /// The run budget was spent first.
    Budget,
    /// No run could tell anything more (everything left was skipped).
    NothingToTest,
}

/// Runs the search: choose a batch, run it through `run` (which returns one
/// outcome per choice, in order), learn, until [`Limits`] say stop.
/// `after` sees each batch once learned.
pub fn drive(
    search: &mut Search<'_>,
    limits: &Limits,
    mut run: impl FnMut(&[Choice]) -> Result<Vec<Outcome>>,
    mut after: impl FnMut(&Search<'_>, &[(Choice, Outcome)]),
) -> Result<(Stop, usize)> {
    let mut runs = 0;
    loop {
        let (best, probability) = search.best();
        let missing = search.missing_evidence(best);
        if probability >= limits.confidence && missing.is_none() {
            return Ok((Stop::Confident, runs));
        }
        if runs >= limits.max_runs {
            return Ok((Stop::Budget, runs));
        }
        let jobs = limits.jobs.min(limits.max_runs - runs);
        let batch = match missing.filter(|_| probability >= limits.confidence) {
            // Confident, but without the runs that prove it: make them.
            Some(target) => {
                let p_bad = search.p_bad(target);
                vec![Choice {
                    target,
                    p_bad,
                    bits: search.bits(p_bad).max(1e-6),
                }]
            }
            None => search.next(jobs),
        };
        if batch.first().is_none_or(|c| c.bits < 1e-9) {
            return Ok((Stop::NothingToTest, runs));
        }
        let outcomes = run(&batch)?;
        let done: Vec<(Choice, Outcome)> = batch.into_iter().zip(outcomes).collect();
        for (choice, outcome) in &done {
            match outcome {
                Outcome::Skip => search.skip(choice.target),
                Outcome::Fail | Outcome::Pass => {
                    search.observe(choice.target, *outcome == Outcome::Fail)
                }
            }
        }
        runs += done.len();
        after(search, &done);
    }
}

/// A simulated test for backtests: the commit is bad when the culprit is
/// in it; a bad run passes with `noise.false_pass`, a good one fails with
/// `noise.false_fail` (here rates of 0 mean none).
pub struct Oracle<'g> {
    pub graph: &'g Graph,
    pub culprit: usize,
    pub noise: Noise,
    pub rng: crate::train::examples::Rng,
}

impl Oracle<'_> {
    pub fn bad(&self, target: Target) -> bool {
        match target {
            Target::Commit(c) => self.graph.contains(c, self.culprit),
            Target::Base => false,
        }
    }

    /// One run's result.
    pub fn run(&mut self, target: Target) -> bool {
        let draw = self.rng.next_f64();
        if self.bad(target) {
            draw >= self.noise.false_pass
        } else {
            draw < self.noise.false_fail
        }
    }
}

/// `git bisect` on the oracle, each step run `repeats` times and counted
/// bad when any run fails. Returns (runs, the commit it names); its steps
/// are `runs / repeats`.
pub fn simulate_git_bisect(oracle: &mut Oracle<'_>, repeats: usize) -> (usize, usize) {
    let graph = oracle.graph;
    let mut possible: Vec<bool> = (0..graph.len())
        .map(|c| graph.contains(graph.tip, c))
        .collect();
    let mut runs = 0;
    while let Some(c) = git_bisect_choice(graph, &possible) {
        let mut failed = false;
        for _ in 0..repeats.max(1) {
            failed |= oracle.run(Target::Commit(c));
            runs += 1;
        }
        git_bisect_update(graph, &mut possible, c, failed);
    }
    let named = possible.iter().position(|&p| p).unwrap_or(graph.tip);
    (runs, named)
}

/// rca's search on the oracle. Returns (runs, batches, the verdict when
/// confident).
pub fn simulate_search(
    oracle: &mut Oracle<'_>,
    prior: &[f64],
    model_noise: Noise,
    limits: &Limits,
) -> (usize, usize, Option<Hypothesis>) {
    let mut search = Search::new(oracle.graph, prior, model_noise);
    let mut batches = 0;
    let (stop, runs) = drive(
        &mut search,
        limits,
        |batch| {
            batches += 1;
            Ok(batch
                .iter()
                .map(|c| {
                    if oracle.run(c.target) {
                        Outcome::Fail
                    } else {
                        Outcome::Pass
                    }
                })
                .collect())
        },
        |_, _| {},
    )
    .expect("the oracle never fails");
    (
        runs,
        batches,
        (stop == Stop::Confident).then(|| search.best().0),
    )
}

fn xlog2x(p: f64) -> f64 {
    if p > 0.0 {
        p * p.log2()
    } else {
        0.0
    }
}

/// Binary entropy in bits.
fn entropy(p: f64) -> f64 {
    -xlog2x(p) - xlog2x(1.0 - p)
}

/// The prior over the window from a ranking: `ranked` holds (commit index,
/// probability) for the ranked candidates; the rest of the ranking's mass
/// is shared by the commits it did not rank, and `floor` of the whole is
/// spread evenly over every commit, so that no commit is ruled out before
/// it is tested.
pub fn ranking_prior(n: usize, ranked: &[(usize, f64)], floor: f64) -> Vec<f64> {
    let mut prior = vec![f64::NAN; n];
    let mut mass = 0.0;
    for &(c, p) in ranked {
        if c < n && prior[c].is_nan() {
            prior[c] = p.max(0.0);
            mass += prior[c];
        }
    }
    let unranked = prior.iter().filter(|p| p.is_nan()).count();
    let rest = if unranked > 0 {
        (1.0 - mass).max(0.0) / unranked as f64
    } else {
        0.0
    };
    let total = mass + rest * unranked as f64;
    let floor = floor.clamp(0.0, 1.0);
    prior
        .into_iter()
        .map(|p| {
            let p = if p.is_nan() { rest } else { p };
            let share = if total > 0.0 { p / total } else { 0.0 };
            (1.0 - floor) * share + floor / n as f64
        })
        .collect()
}

/// `git bisect`'s own choice, for comparison: among the commits still
/// possible (`possible`), the one that splits them most evenly (the most
/// commits on the smaller side).
pub fn git_bisect_choice(graph: &Graph, possible: &[bool]) -> Option<usize> {
    let remaining = possible.iter().filter(|&&p| p).count();
    (0..graph.len())
        .filter(|&c| possible[c])
        .map(|c| {
            let below = graph.contained(c).filter(|&a| possible[a]).count();
            (c, below.min(remaining - below))
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .filter(|&(_, split)| split > 0)
        .map(|(c, _)| c)
}

/// `git bisect`'s update: a failing run keeps the commits the tested one
/// contains, a passing run removes them.
pub fn git_bisect_update(graph: &Graph, possible: &mut [bool], tested: usize, failed: bool) {
    for (c, p) in possible.iter_mut().enumerate() {
        if graph.contains(tested, c) != failed {
            *p = false;
        }
    }
}

#[cfg(test)]
mod tests;
