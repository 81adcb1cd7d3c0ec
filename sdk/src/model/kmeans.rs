//! k-means clustering: a seeded k-means++ start, then Lloyd's iterations until no point changes cluster
//! (scikit-learn's `KMeans(init=<these centroids>, n_init=1, algorithm="lloyd", tol=0)` reaches the same
//! clusters). A point belongs to its nearest centroid by Euclidean distance, the first on a tie.

use serde::{Deserialize, Serialize};

/// A trained clustering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    /// The final centroids.
    pub centroids: Vec<Vec<f64>>,
    /// The k-means++ start the iterations began from.
    pub init: Vec<Vec<f64>>,
    /// Lloyd iterations run.
    pub iterations: usize,
    /// The seed of the start.
    pub seed: u64,
}

/// Iterations at most, as scikit-learn's default.
pub const MAX_ITERATIONS: usize = 300;

fn squared(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The index of the centroid nearest `point` (the first on a tie) and its squared distance.
fn nearest(centroids: &[Vec<f64>], point: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centroids.iter().enumerate() {
        let d = squared(c, point);
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

/// splitmix64: a seeded stream of well-mixed numbers, enough for picking starts.
struct Mix(u64);

impl Mix {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl KMeans {
    /// Clusters `points` (all of one dimension) into `k` from a k-means++ start seeded with `seed`.
    ///
    /// ```
    /// use weir_sdk::model::KMeans;
    /// let points = vec![vec![0.0, 0.0], vec![0.1, 0.0], vec![9.0, 9.0], vec![9.1, 9.0]];
    /// let m = KMeans::train(&points, 2, 7).unwrap();
    /// let (a, b) = (m.assign(&[0.05, 0.0]).0, m.assign(&[9.05, 9.0]).0);
    /// assert_ne!(a, b);
    /// assert!(m.assign(&[0.0, 0.1]).1 < 0.2);
    /// ```
    pub fn train(points: &[Vec<f64>], k: usize, seed: u64) -> Result<KMeans, String> {
        let dim = points.first().map_or(0, Vec::len);
        if dim == 0 {
            return Err("no points to cluster".into());
        }
        if let Some(i) = points.iter().position(|p| p.len() != dim) {
            return Err(format!("point {} has {} values, the first has {dim}", i + 1, points[i].len()));
        }
        if k == 0 || k > points.len() {
            return Err(format!("k must be between 1 and the number of points ({}), not {k}", points.len()));
        }
        let init = Self::plus_plus(points, k, seed);
        let (centroids, iterations) = Self::lloyd(points, init.clone());
        Ok(KMeans { centroids, init, iterations, seed })
    }

    /// k-means++: the first centroid a point picked at random, each next one a point picked with
    /// probability proportional to its squared distance from the nearest centroid so far.
    pub fn plus_plus(points: &[Vec<f64>], k: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Mix(seed);
        let pick = |r: f64, n: usize| ((r * n as f64) as usize).min(n - 1);
        let mut centroids = vec![points[pick(rng.unit(), points.len())].clone()];
        let mut d2: Vec<f64> = points.iter().map(|p| squared(p, &centroids[0])).collect();
        while centroids.len() < k {
            let total: f64 = d2.iter().sum();
            let next = if total > 0.0 {
                let mut target = rng.unit() * total;
                d2.iter().position(|d| {
                    target -= d;
                    target < 0.0
                })
            } else {
                None
            };
            let next = next.unwrap_or_else(|| pick(rng.unit(), points.len()));
            centroids.push(points[next].clone());
            let last = centroids.last().expect("just pushed");
            d2.iter_mut().zip(points).for_each(|(d, p)| *d = d.min(squared(p, last)));
        }
        centroids
    }

    /// Lloyd's iterations from `centroids` until no point changes cluster (at most [`MAX_ITERATIONS`]);
    /// a centroid left without points stays where it is. The centroids and the iterations run.
    pub fn lloyd(points: &[Vec<f64>], mut centroids: Vec<Vec<f64>>) -> (Vec<Vec<f64>>, usize) {
        let mut labels: Option<Vec<usize>> = None;
        for iteration in 1..=MAX_ITERATIONS {
            let now: Vec<usize> = points.iter().map(|p| nearest(&centroids, p).0).collect();
            if labels.as_ref() == Some(&now) {
                return (centroids, iteration - 1);
            }
            let dim = centroids[0].len();
            let mut sums = vec![vec![0.0; dim]; centroids.len()];
            let mut counts = vec![0usize; centroids.len()];
            for (p, &c) in points.iter().zip(&now) {
                sums[c].iter_mut().zip(p).for_each(|(s, x)| *s += x);
                counts[c] += 1;
            }
            for ((c, sum), n) in centroids.iter_mut().zip(sums).zip(counts) {
                if n > 0 {
                    *c = sum.into_iter().map(|s| s / n as f64).collect();
                }
            }
            labels = Some(now);
        }
        (centroids, MAX_ITERATIONS)
    }

    /// The cluster of `point` and its Euclidean distance from that cluster's centroid.
    pub fn assign(&self, point: &[f64]) -> (usize, f64) {
        let (c, d2) = nearest(&self.centroids, point);
        (c, d2.sqrt())
    }
}
