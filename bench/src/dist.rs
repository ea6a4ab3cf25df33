//! Random numbers and key distributions.
//!
//! [`Rng`] is wyrand: one multiply per number, plenty for choosing keys.
//! [`Zipf`] is the Gray et al. sampler used by YCSB ("Quickly generating
//! billion-record synthetic databases", SIGMOD 1994): O(1) per sample after
//! computing `zeta(n, theta)` once (exact for the first 10 million terms,
//! Euler–Maclaurin for the rest). Rank 0 is the hottest key.

use clap::ValueEnum;
use std::fmt;

/// A small, fast, seedable PRNG (wyrand).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut rng = Self(seed ^ 0x243f_6a88_85a3_08d3);
        rng.next_u64();
        rng
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `threshold / 2^64` (see [`probability_threshold`]).
    #[inline]
    pub fn chance(&mut self, threshold: u64) -> bool {
        self.next_u64() < threshold
    }
}

/// `p` in `[0, 1]` as a threshold for [`Rng::chance`]. `p >= 1` is always.
pub fn probability_threshold(p: f64) -> u64 {
    if p >= 1.0 {
        u64::MAX
    } else if p <= 0.0 {
        0
    } else {
        (p * 2f64.powi(64)) as u64
    }
}

/// Which keys the load touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// Zipfian: key of rank i has weight 1/(i+1)^s (s = --zipf-exponent, 0.99).
    Zipfian,
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Uniform => "uniform",
            Self::Zipfian => "zipfian",
        })
    }
}

/// Draws key indexes in `0..n`.
#[derive(Clone, Debug)]
pub enum KeySampler {
    Uniform(u64),
    Zipf(Zipf),
}

impl KeySampler {
    pub fn new(dist: Distribution, n: u64, exponent: f64) -> Self {
        match dist {
            Distribution::Uniform => Self::Uniform(n),
            Distribution::Zipfian => Self::Zipf(Zipf::new(n, exponent)),
        }
    }

    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        match self {
            Self::Uniform(n) => rng.below(*n),
            Self::Zipf(z) => z.sample(rng),
        }
    }
}

/// Zipfian ranks in `0..n` with exponent `theta` (`0 < theta < 1`).
#[derive(Clone, Debug)]
pub struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
    /// `1 + 0.5^theta`: below it (scaled) the sample is rank 1.
    two_cut: f64,
}

/// Terms of zeta summed exactly; beyond, the Euler–Maclaurin tail.
const EXACT_TERMS: u64 = 10_000_000;

/// `sum_{i=1}^{n} 1 / i^theta`.
pub fn zeta(n: u64, theta: f64) -> f64 {
    let m = n.min(EXACT_TERMS);
    // Sum small terms first for accuracy.
    let mut sum = 0.0;
    for i in (1..=m).rev() {
        sum += (i as f64).powf(-theta);
    }
    if n > m {
        let (nf, mf) = (n as f64, m as f64);
        // sum_{i=m+1}^{n} f(i) ≈ ∫_m^n f + (f(n) - f(m)) / 2
        sum += (nf.powf(1.0 - theta) - mf.powf(1.0 - theta)) / (1.0 - theta)
            + (nf.powf(-theta) - mf.powf(-theta)) / 2.0;
    }
    sum
}

impl Zipf {
    pub fn new(n: u64, theta: f64) -> Self {
        assert!(n > 0, "zipf over an empty keyspace");
        assert!(
            theta > 0.0 && theta < 1.0,
            "zipf exponent must be in (0, 1), got {theta}"
        );
        let zetan = zeta(n, theta);
        let zeta2 = zeta(2.min(n), theta);
        let eta = if n > 2 {
            (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan)
        } else {
            1.0
        };
        Self {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta,
            two_cut: 1.0 + 0.5f64.powf(theta),
        }
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    pub fn theta(&self) -> f64 {
        self.theta
    }

    /// The exact probability of rank `i`.
    pub fn probability(&self, i: u64) -> f64 {
        ((i + 1) as f64).powf(-self.theta) / self.zetan
    }

    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let uz = u * self.zetan;
        if uz < 1.0 || self.n == 1 {
            return 0;
        }
        if uz < self.two_cut || self.n == 2 {
            return 1;
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(sampler: &KeySampler, n: u64, draws: usize) -> Vec<u64> {
        let mut rng = Rng::new(7);
        let mut counts = vec![0u64; n as usize];
        for _ in 0..draws {
            let k = sampler.sample(&mut rng);
            assert!(k < n);
            counts[k as usize] += 1;
        }
        counts
    }

    #[test]
    fn zipf_is_skewed() {
        let n = 1000;
        let draws = 400_000;
        let z = Zipf::new(n, 0.99);
        let counts = histogram(&KeySampler::Zipf(z.clone()), n, draws);
        // The hottest key gets its exact share (≈ 13.4% for n = 1000).
        for rank in [0u64, 1] {
            let want = z.probability(rank) * draws as f64;
            let got = counts[rank as usize] as f64;
            assert!(
                (got - want).abs() < want * 0.05,
                "rank {rank}: {got} draws, expected about {want}"
            );
        }
        // Monotone on a coarse scale.
        assert!(counts[0] > counts[1]);
        assert!(counts[1] > counts[9]);
        assert!(counts[9] > counts[99]);
        // The top 10% of keys take most of the load (≈ 68% for s = 0.99).
        let top: u64 = counts[..100].iter().sum();
        let share = top as f64 / draws as f64;
        assert!(share > 0.6 && share < 0.76, "top-10% share {share}");
        // And the tail is still reached.
        assert!(counts[500..].iter().sum::<u64>() > 0);
    }

    #[test]
    fn zipf_matches_gray_closed_form_for_large_n() {
        // Deep ranks follow the power law: P(rank < k) ≈ zeta(k) / zeta(n).
        let n = 1_000_000;
        let z = Zipf::new(n, 0.99);
        let mut rng = Rng::new(11);
        let draws = 200_000;
        let below_1000 = (0..draws).filter(|_| z.sample(&mut rng) < 1000).count();
        let want = zeta(1000, 0.99) / zeta(n, 0.99);
        let got = below_1000 as f64 / draws as f64;
        assert!((got - want).abs() < 0.02, "P(rank < 1000) {got} vs {want}");
    }

    #[test]
    fn uniform_is_flat() {
        let n = 1000;
        let draws = 400_000;
        let counts = histogram(&KeySampler::Uniform(n), n, draws);
        let top: u64 = counts[..100].iter().sum();
        let share = top as f64 / draws as f64;
        assert!((share - 0.1).abs() < 0.01, "top-10% share {share}");
        assert!(counts.iter().all(|&c| c > 250 && c < 550));
    }

    #[test]
    fn zeta_tail_approximation_is_close() {
        // Exact vs. approximated beyond EXACT_TERMS, checked on a smaller
        // split by comparing against direct summation.
        let exact: f64 = (1..=2_000_000u64).map(|i| (i as f64).powf(-0.99)).sum();
        let m = 1_000_000u64;
        let head: f64 = (1..=m).map(|i| (i as f64).powf(-0.99)).sum();
        let (nf, mf) = (2_000_000f64, m as f64);
        let approx =
            head + (nf.powf(0.01) - mf.powf(0.01)) / 0.01 + (nf.powf(-0.99) - mf.powf(-0.99)) / 2.0;
        assert!((exact - approx).abs() / exact < 1e-9);
        assert!((zeta(2_000_000, 0.99) - exact).abs() / exact < 1e-9);
    }

    #[test]
    fn tiny_keyspaces() {
        let mut rng = Rng::new(1);
        for n in 1..=3 {
            let z = Zipf::new(n, 0.99);
            for _ in 0..1000 {
                assert!(z.sample(&mut rng) < n);
            }
        }
    }

    #[test]
    fn thresholds() {
        assert_eq!(probability_threshold(0.0), 0);
        assert_eq!(probability_threshold(1.0), u64::MAX);
        let mut rng = Rng::new(3);
        let t = probability_threshold(0.25);
        let hits = (0..100_000).filter(|_| rng.chance(t)).count();
        assert!((hits as f64 / 100_000.0 - 0.25).abs() < 0.01);
    }
}
