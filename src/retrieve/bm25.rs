//! BM25 over one field of every commit of the window. Documents and query
//! terms are English stems (`text::stem`).

use super::Query;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};

/// BM25 over one field of every document.
pub struct Bm25 {
    docs: Vec<HashMap<String, u32>>,
    lengths: Vec<f64>,
    average_length: f64,
    document_frequency: HashMap<String, u32>,
}

impl Bm25 {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;

    /// The index of documents given as term counts.
    pub fn new(counted: Vec<HashMap<String, u32>>) -> Bm25 {
        let lengths: Vec<f64> = counted
            .par_iter()
            .map(|counts| f64::from(counts.values().sum::<u32>()))
            .collect();
        let document_frequency = document_frequency(&counted);
        let average_length = (lengths.iter().sum::<f64>() / lengths.len().max(1) as f64).max(1.0);
        Bm25 {
            docs: counted,
            lengths,
            average_length,
            document_frequency,
        }
    }

    pub fn idf(&self, term: &str) -> f64 {
        idf(self.docs.len(), &self.document_frequency, term)
    }

    /// The score of document `index`, and the query stems it contains.
    pub fn score(&self, index: usize, query: &Query, matched: &mut BTreeSet<String>) -> f64 {
        let doc = &self.docs[index];
        let norm = Self::K1 * (1.0 - Self::B + Self::B * self.lengths[index] / self.average_length);
        let mut score = 0.0;
        for (term, weight) in &query.terms {
            if let Some(&tf) = doc.get(term) {
                let tf = f64::from(tf);
                score += weight * self.idf(term) * tf * (Self::K1 + 1.0) / (tf + norm);
                matched.insert(term.clone());
            }
        }
        score
    }
}

/// In how many documents each term occurs.
pub fn document_frequency<V>(docs: &[HashMap<String, V>]) -> HashMap<String, u32> {
    let mut frequency: HashMap<String, u32> = HashMap::new();
    for doc in docs {
        for term in doc.keys() {
            *frequency.entry(term.clone()).or_default() += 1;
        }
    }
    frequency
}

/// BM25's inverse document frequency of `term` among `n` documents.
pub fn idf(n: usize, document_frequency: &HashMap<String, u32>, term: &str) -> f64 {
    let n = n as f64;
    let df = f64::from(document_frequency.get(term).copied().unwrap_or(0));
    ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
}
