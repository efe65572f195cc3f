//! What the load generator reads about a server process from `/proc/PID`, and a client
//! thread's own CPU time. Linux only; every reader returns an `io::Error` rather than
//! panicking when the process is gone or a field is missing.

use std::io;
use std::time::Duration;

/// A snapshot of a process: resident memory, thread count, CPU ticks used so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// `VmRSS` in bytes.
    pub rss_bytes: u64,
    /// `Threads` from `/proc/PID/status`.
    pub threads: u64,
    /// User plus system CPU time so far.
    pub cpu: Duration,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Parses `VmRSS` (kB) and `Threads` out of a `/proc/PID/status` text.
pub fn parse_status(text: &str) -> io::Result<(u64, u64)> {
    let field = |name: &str| -> io::Result<u64> {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .ok_or_else(|| bad(name))?;
        line.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(name))
    };
    Ok((field("VmRSS:")? * 1024, field("Threads:")?))
}

/// Parses `utime + stime` (clock ticks) out of a `/proc/PID/stat` text. The command name
/// may contain spaces and parentheses, so fields are counted after the LAST `)`.
pub fn parse_stat_ticks(text: &str) -> io::Result<u64> {
    let rest = &text[text.rfind(')').ok_or_else(|| bad("stat"))? + 1..];
    // After ")": state(3) ppid(4) ... utime(14) stime(15): indexes 11 and 12 from here.
    let mut f = rest.split_whitespace().skip(11);
    let mut next = || -> io::Result<u64> {
        f.next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("stat ticks"))
    };
    Ok(next()? + next()?)
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Reads the current sample of process `pid`.
pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (rss_bytes, threads) = parse_status(&status)?;
    let ticks = parse_stat_ticks(&stat)?;
    let hz = ticks_per_second();
    Ok(ProcSample {
        rss_bytes,
        threads,
        cpu: Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz),
    })
}

/// Totals over every thread of a process, from `/proc/PID/task/*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskTotals {
    /// Time on a CPU in nanoseconds (`schedstat`, nanosecond resolution, unlike the
    /// 10 ms ticks of `stat`).
    pub cpu_ns: u64,
    /// Context switches, voluntary and involuntary.
    pub switches: u64,
}

/// Sums [`TaskTotals`] over the live threads of `pid`. Threads that exit between the
/// listing and the read are skipped (their time is lost: keep windows short of churn).
pub fn task_totals(pid: u32) -> io::Result<TaskTotals> {
    let mut t = TaskTotals::default();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        let (Ok(status), Ok(sched)) = (
            std::fs::read_to_string(dir.join("status")),
            std::fs::read_to_string(dir.join("schedstat")),
        ) else {
            continue;
        };
        t.switches += parse_switches(&status);
        t.cpu_ns += sched
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(t)
}

/// `voluntary_ctxt_switches + nonvoluntary_ctxt_switches` of one `status` text.
pub fn parse_switches(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// CPU time (user + system) used so far by the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` points to writable memory of the right size; RUSAGE_THREAD only reads
    // the calling thread's counters.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage returned 0, so it initialised the struct (it was zeroed anyway).
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let t = "Name:\tx\nVmRSS:\t  2048 kB\nThreads:\t7\n";
        assert_eq!(parse_status(t).unwrap(), (2048 * 1024, 7));
        assert!(parse_status("Name: x\n").is_err());
    }

    #[test]
    fn stat_ticks_after_last_paren() {
        let t = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15";
        // utime = 11, stime = 12 (fields 14 and 15).
        assert_eq!(parse_stat_ticks(t).unwrap(), 23);
        assert!(parse_stat_ticks("garbage").is_err());
    }

    #[test]
    fn switches_sum_both_kinds() {
        let t = "voluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t5\n";
        assert_eq!(parse_switches(t), 15);
        let t = task_totals(std::process::id()).unwrap();
        assert!(t.cpu_ns > 0 && t.switches > 0);
    }

    #[test]
    fn self_sample_and_thread_cpu() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0 && s.threads >= 1);
        let t0 = thread_cpu();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() >= t0);
    }
}
