//! Percentiles over latency samples and medians over rounds.
//!
//! Samples are nanoseconds (`u64`). Percentiles use the nearest-rank method on a sorted
//! copy, so p100 is the maximum and no value is interpolated.

/// Nearest-rank percentile `p` (0..=100) of `sorted` (ascending). `None` when empty.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50 and p99 of `samples` in microseconds (sorted in place). `(NaN, NaN)` when empty.
pub fn p50_p99_us(samples: &mut [u64]) -> (f64, f64) {
    samples.sort_unstable();
    let us = |v: Option<u64>| v.map_or(f64::NAN, |ns| ns as f64 / 1000.0);
    (us(percentile(samples, 50.0)), us(percentile(samples, 99.0)))
}

/// Median of finite values (mean of the middle two for an even count). `None` when there
/// is no finite value.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
    }

    #[test]
    fn p50_p99_in_us() {
        let mut v = vec![3000, 1000, 2000];
        assert_eq!(p50_p99_us(&mut v), (2.0, 3.0));
        let (a, b) = p50_p99_us(&mut []);
        assert!(a.is_nan() && b.is_nan());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(&[]), None);
    }
}
