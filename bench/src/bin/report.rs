//! `report`: turns the load generator's JSON lines into medians, ratios, a Markdown table,
//! `latest.json` and a PNG plot of echo throughput and p99 by server.
//!
//! `report --raw RAW.jsonl --servers A,B,C --peers A,B [--json OUT] [--md OUT] [--png OUT]
//!  [--meta key=value]...`
//!
//! Medians are over rounds (every line of one case and server is one round). A ratio is
//! `tern / best peer`, where the best peer is the peer with the higher value for a
//! higher-is-better metric and the lower value otherwise, so a ratio above 1.0 is better for
//! throughput and a ratio below 1.0 is better for latency, memory and CPU.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tern_bench::stats::median;

/// A target from issue 7 for one metric, checked on the medians of one run.
#[derive(Clone, Copy)]
enum Target {
    /// tern / best peer at least this.
    RatioAtLeast(f64),
    /// tern / best peer at most this.
    RatioAtMost(f64),
    /// tern's own value at most this.
    AtMost(f64),
}

impl Target {
    fn text(self) -> String {
        match self {
            Target::RatioAtLeast(r) => format!("≥ {r:.1}×"),
            Target::RatioAtMost(r) => format!("≤ {r:.1}×"),
            Target::AtMost(0.0) => "0".to_string(),
            Target::AtMost(v) => format!("≤ {v}"),
        }
    }
    fn met(self, value: Option<f64>, ratio: Option<f64>) -> Option<bool> {
        match self {
            Target::RatioAtLeast(r) => ratio.map(|x| x >= r),
            Target::RatioAtMost(r) => ratio.map(|x| x <= r),
            Target::AtMost(v) => value.map(|x| x <= v),
        }
    }
}

/// One row kind of the table.
struct Metric {
    scenario: &'static str,
    key: &'static str,
    label: &'static str,
    higher_is_better: bool,
    /// Target for tern native, and for tern on the VM.
    tern: Option<Target>,
    vm: Option<Target>,
}

const fn m(
    scenario: &'static str,
    key: &'static str,
    label: &'static str,
    higher_is_better: bool,
    tern: Option<Target>,
    vm: Option<Target>,
) -> Metric {
    Metric {
        scenario,
        key,
        label,
        higher_is_better,
        tern,
        vm,
    }
}

use Target::{AtMost, RatioAtLeast, RatioAtMost};

#[rustfmt::skip]
const METRICS: &[Metric] = &[
    m("echo", "round_trips_per_s", "round trips/s", true, Some(RatioAtLeast(1.0)), Some(RatioAtLeast(0.7))),
    m("echo", "mb_per_s", "MB/s (payload echoed)", true, None, None),
    m("echo", "p50_us", "p50 µs", false, None, None),
    m("echo", "p99_us", "p99 µs", false, Some(RatioAtMost(1.0)), None),
    m("echo", "server_cpu_us_per_op", "server CPU µs per round trip", false, None, None),
    m("echo", "server_switches_per_op", "server context switches per round trip", false, None, None),
    m("echo", "errors", "errors", false, Some(AtMost(0.0)), Some(AtMost(0.0))),
    m("wss_echo", "round_trips_per_s", "round trips/s", true, Some(RatioAtLeast(0.9)), None),
    m("wss_echo", "p50_us", "p50 µs", false, None, None),
    m("wss_echo", "p99_us", "p99 µs", false, None, None),
    m("wss_echo", "server_cpu_us_per_op", "server CPU µs per round trip", false, None, None),
    m("wss_echo", "errors", "errors", false, Some(AtMost(0.0)), None),
    m("fanout", "deliveries_per_s", "deliveries/s", true, Some(RatioAtLeast(1.0)), None),
    m("fanout", "p50_us", "p50 delivery µs", false, None, None),
    m("fanout", "p99_us", "p99 delivery µs", false, None, None),
    m("fanout", "server_cpu_us_per_op", "server CPU µs per delivery", false, None, None),
    m("fanout", "server_switches_per_op", "server context switches per delivery", false, None, None),
    m("fanout", "lost", "lost", false, Some(AtMost(0.0)), Some(AtMost(0.0))),
    m("idle", "rss_per_conn_kib", "RSS per connection KiB", false, Some(AtMost(16.0)), None),
    m("idle", "threads", "threads", false, None, None),
    m("idle", "idle_cpu_percent", "CPU while idle %", false, Some(AtMost(0.1)), None),
    m("idle", "errors", "errors", false, Some(AtMost(0.0)), Some(AtMost(0.0))),
    m("churn", "conns_per_s", "connections/s", true, Some(RatioAtLeast(1.0)), None),
    m("churn", "server_cpu_us_per_op", "server CPU µs per connection", false, None, None),
    m("churn", "errors", "errors", false, Some(AtMost(0.0)), Some(AtMost(0.0))),
];

/// Which tern servers get a ratio column, with their target picker.
const TERNS: &[&str] = &["tern", "tern-vm"];

fn target_of(metric: &Metric, tern: &str) -> Option<Target> {
    if tern == "tern" {
        metric.tern
    } else {
        metric.vm
    }
}

struct Args {
    raw: String,
    servers: Vec<String>,
    peers: Vec<String>,
    json: Option<String>,
    md: Option<String>,
    png: Option<String>,
    meta: Map<String, Value>,
}

fn die(msg: &str) -> ! {
    eprintln!("report: {msg}");
    std::process::exit(2)
}

fn args() -> Args {
    let mut a = Args {
        raw: String::new(),
        servers: Vec::new(),
        peers: Vec::new(),
        json: None,
        md: None,
        png: None,
        meta: Map::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| die(&format!("{k} needs a value")));
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        match k.as_str() {
            "--raw" => a.raw = v,
            "--servers" => a.servers = list(&v),
            "--peers" => a.peers = list(&v),
            "--json" => a.json = Some(v),
            "--md" => a.md = Some(v),
            "--png" => a.png = Some(v),
            "--meta" => {
                let (key, val) = v
                    .split_once('=')
                    .unwrap_or_else(|| die("--meta wants key=value"));
                a.meta.insert(key.to_string(), json!(val));
            }
            _ => die(&format!("unknown option {k}")),
        }
    }
    if a.raw.is_empty() || a.servers.is_empty() {
        die("usage: report --raw RAW.jsonl --servers A,B --peers A,B [--json F] [--md F] [--png F] [--meta k=v]...");
    }
    a
}

/// Rounds of one (case, server): the values of each metric key.
type Rounds = BTreeMap<String, Vec<f64>>;

struct Data {
    /// Cases in first-seen order, with their scenario.
    cases: Vec<(String, String)>,
    /// (case, server) -> metric -> values over rounds.
    rounds: BTreeMap<(String, String), Rounds>,
    raw: Vec<Value>,
}

fn load(path: &str) -> Data {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let mut d = Data {
        cases: Vec::new(),
        rounds: BTreeMap::new(),
        raw: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("report: {path}:{}: skipped: {e}", n + 1);
                continue;
            }
        };
        let (Some(case), Some(scenario), Some(server)) = (
            v["case"].as_str(),
            v["scenario"].as_str(),
            v["server"].as_str(),
        ) else {
            eprintln!("report: {path}:{}: skipped: no case/scenario/server", n + 1);
            continue;
        };
        if !d.cases.iter().any(|(c, _)| c == case) {
            d.cases.push((case.to_string(), scenario.to_string()));
        }
        let entry = d
            .rounds
            .entry((case.to_string(), server.to_string()))
            .or_default();
        if let Some(obj) = v.as_object() {
            for (k, val) in obj {
                if let Some(x) = val.as_f64() {
                    entry.entry(k.clone()).or_default().push(x);
                }
            }
        }
        d.raw.push(v);
    }
    d
}

fn fmt_value(key: &str, v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(x) if key.ends_with("per_s") && x >= 10_000.0 => format!("{:.1} k", x / 1000.0),
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn ratio(tern: Option<f64>, best: Option<f64>) -> Option<f64> {
    match (tern, best) {
        (Some(t), Some(b)) if b != 0.0 => Some(t / b),
        _ => None,
    }
}

fn main() {
    let a = args();
    let d = load(&a.raw);
    let med = |case: &str, server: &str, key: &str| -> Option<f64> {
        d.rounds
            .get(&(case.to_string(), server.to_string()))
            .and_then(|r| r.get(key))
            .and_then(|v| median(v))
    };
    let n_rounds = |case: &str, server: &str| -> usize {
        d.rounds
            .get(&(case.to_string(), server.to_string()))
            .and_then(|r| r.get("round"))
            .map_or(0, Vec::len)
    };
    let terns: Vec<&str> = TERNS
        .iter()
        .copied()
        .filter(|t| a.servers.iter().any(|s| s == t))
        .collect();

    let mut md = String::new();
    md.push_str("| case | metric |");
    for s in &a.servers {
        md.push_str(&format!(" {s} |"));
    }
    for t in &terns {
        md.push_str(&format!(" {t} / best peer |"));
    }
    md.push_str(" target (issue 7) |\n|---|---|");
    for _ in 0..a.servers.len() + terns.len() {
        md.push_str("---:|");
    }
    md.push_str("---|\n");
    let mut missed: Vec<String> = Vec::new();

    let mut rows = Vec::new();
    for (case, scenario) in &d.cases {
        for metric in METRICS {
            let (key, label, higher) = (metric.key, metric.label, metric.higher_is_better);
            if metric.scenario != scenario {
                continue;
            }
            if key == "mb_per_s" && !case.contains("KiB") {
                continue;
            }
            let values: Vec<Option<f64>> = a.servers.iter().map(|s| med(case, s, key)).collect();
            if values.iter().all(Option::is_none) {
                continue;
            }
            let peer_values: Vec<f64> = a.peers.iter().filter_map(|p| med(case, p, key)).collect();
            let best = if higher {
                peer_values.iter().copied().reduce(f64::max)
            } else {
                peer_values.iter().copied().reduce(f64::min)
            };
            let arrow = if higher { "↑" } else { "↓" };
            md.push_str(&format!("| {case} | {label} {arrow} |"));
            for v in &values {
                md.push_str(&format!(" {} |", fmt_value(key, *v)));
            }
            let mut ratios = Map::new();
            let mut verdicts = Map::new();
            for t in &terns {
                let value = med(case, t, key);
                let r = ratio(value, best);
                let target = target_of(metric, t);
                let verdict = target.and_then(|g| g.met(value, r));
                let mark = match verdict {
                    Some(true) => " ✓",
                    Some(false) => " ✗",
                    None => "",
                };
                md.push_str(&match r {
                    Some(r) => format!(" {r:.2}×{mark} |"),
                    None => format!(" —{mark} |"),
                });
                if let (Some(g), Some(ok)) = (target, verdict) {
                    if !ok {
                        missed.push(format!(
                            "{t}: {case}, {label}: {} (target {}), median {}{}",
                            r.map_or("—".into(), |r| format!("{r:.2}× the best peer")),
                            g.text(),
                            fmt_value(key, value),
                            best.map_or(String::new(), |b| format!(
                                " vs best peer {}",
                                fmt_value(key, Some(b))
                            )),
                        ));
                    }
                }
                ratios.insert(t.to_string(), json!(r));
                verdicts.insert(t.to_string(), json!(verdict));
            }
            let targets: Vec<String> = terns
                .iter()
                .filter_map(|t| target_of(metric, t).map(|g| format!("{t} {}", g.text())))
                .collect();
            md.push_str(&format!(" {} |\n", targets.join(", ")));
            let mut medians = Map::new();
            let mut per_round = Map::new();
            for s in &a.servers {
                medians.insert(s.clone(), json!(med(case, s, key)));
                let r = d
                    .rounds
                    .get(&(case.clone(), s.clone()))
                    .and_then(|r| r.get(key))
                    .cloned()
                    .unwrap_or_default();
                per_round.insert(s.clone(), json!(r));
            }
            rows.push(json!({
                "case": case, "scenario": scenario, "metric": key, "label": label,
                "higher_is_better": higher, "best_peer": best, "medians": medians,
                "rounds": per_round, "tern_over_best_peer": ratios,
                "target_met": verdicts,
            }));
        }
    }
    let mut counts = String::new();
    for s in &a.servers {
        let n: Vec<usize> = d.cases.iter().map(|(c, _)| n_rounds(c, s)).collect();
        let (lo, hi) = (
            n.iter().copied().min().unwrap_or(0),
            n.iter().copied().max().unwrap_or(0),
        );
        counts.push_str(&format!(
            "{s}: {} round(s) per case\n",
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}–{hi}")
            }
        ));
    }
    let notes = notes(&d.raw, &missed);
    let legend = "Medians over rounds. Ratios are tern ÷ the best peer (the faster one, or the \
                  lower one for ↓ rows): above 1.0 is better on ↑ rows, below 1.0 is better on \
                  ↓ rows. ✓/✗: the issue 7 target for that row, met or missed.\n";
    let text = format!("{md}\n{legend}\n{counts}{notes}");
    print!("{text}");
    if let Some(p) = &a.md {
        write_or_die(p, text);
    }
    if let Some(p) = &a.json {
        let out = json!({
            "meta": a.meta, "servers": a.servers, "peers": a.peers,
            "table": rows, "raw": d.raw,
        });
        let text = serde_json::to_string_pretty(&out).unwrap_or_default();
        write_or_die(p, text + "\n");
    }
    if let Some(p) = &a.png {
        let cases: Vec<&str> = d
            .cases
            .iter()
            .filter(|(_, s)| s == "echo" || s == "wss_echo")
            .map(|(c, _)| c.as_str())
            .collect();
        match plot(p, &cases, &a.servers, &med) {
            Ok(()) => eprintln!("report: wrote {p}"),
            Err(e) => eprintln!("report: no plot: {e}"),
        }
    }
}

/// Missed targets, and every measurement whose client thread saturated or that saw
/// errors or lost messages.
fn notes(raw: &[Value], missed: &[String]) -> String {
    let mut out = String::new();
    if !missed.is_empty() {
        out.push_str("\nTargets missed:\n");
        for m in missed {
            out.push_str(&format!("- {m}\n"));
        }
    }
    let mut flagged = Vec::new();
    for v in raw {
        let who = format!(
            "{} / {} / round {}",
            v["case"].as_str().unwrap_or("?"),
            v["server"].as_str().unwrap_or("?"),
            v["round"]
        );
        if v["client_saturated"].as_bool() == Some(true) {
            flagged.push(format!(
                "{who}: a load-generator thread was saturated ({:.0}% busy)",
                v["client_cpu_max"].as_f64().unwrap_or(0.0) * 100.0
            ));
        }
        for key in ["errors", "lost", "out_of_order"] {
            if v[key].as_f64().is_some_and(|x| x > 0.0) {
                flagged.push(format!("{who}: {key} = {}", v[key]));
            }
        }
        if let Some(kinds) = v["error_kinds"].as_object() {
            for (k, n) in kinds {
                flagged.push(format!("{who}:   {n} × {k}"));
            }
        }
    }
    if !flagged.is_empty() {
        out.push_str("\nFlagged measurements:\n");
        for f in flagged {
            out.push_str(&format!("- {f}\n"));
        }
    }
    out
}

fn write_or_die(path: &str, text: String) {
    if let Err(e) = std::fs::write(path, text) {
        die(&format!("{path}: {e}"));
    }
}

/// Fonts tried in order for the plot's text (`TERN_BENCH_FONT` first).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn register_font() -> Result<(), String> {
    let env = std::env::var("TERN_BENCH_FONT").ok();
    for path in env.iter().map(String::as_str).chain(FONTS.iter().copied()) {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
    }
    Err(format!(
        "no usable TrueType font (tried $TERN_BENCH_FONT and {FONTS:?}); apt-get install fonts-dejavu-core"
    ))
}

const COLORS: &[RGBColor] = &[
    RGBColor(0x4c, 0x72, 0xb0),
    RGBColor(0xdd, 0x84, 0x52),
    RGBColor(0x55, 0xa8, 0x68),
    RGBColor(0xc4, 0x4e, 0x52),
    RGBColor(0x81, 0x72, 0xb3),
];

type Med<'a> = dyn Fn(&str, &str, &str) -> Option<f64> + 'a;

fn plot(path: &str, cases: &[&str], servers: &[String], med: &Med) -> Result<(), String> {
    if cases.is_empty() {
        return Err("no echo case in the results".into());
    }
    register_font()?;
    let root = BitMapBackend::new(path, (1500, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(
            "WebSocket echo: medians over rounds (same machine, same run)",
            ("sans-serif", 24),
        )
        .map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(750);
    let data = PlotData {
        root: &root,
        cases,
        servers,
        med,
    };
    data.panel(
        &left,
        "round_trips_per_s",
        "round trips/s (higher is better)",
        false,
    )?;
    data.panel(
        &right,
        "p99_us",
        "p99 latency, µs, log scale (lower is better)",
        true,
    )?;
    root.present().map_err(|e| e.to_string())
}

type Area<'b> = DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>;

/// What both panels draw from: the titled root area, the echo cases, servers and medians.
struct PlotData<'a, 'b> {
    root: &'a Area<'b>,
    cases: &'a [&'a str],
    servers: &'a [String],
    med: &'a Med<'a>,
}

impl PlotData<'_, '_> {
    fn panel(&self, area: &Area<'_>, key: &str, title: &str, log: bool) -> Result<(), String> {
        let PlotData {
            root,
            cases,
            servers,
            med,
        } = *self;
        let err = |e: DrawingAreaErrorKind<_>| e.to_string();
        // On a log panel bars are drawn at log10(value) from 0 (= 1 unit).
        let scale = |v: f64| if log { v.max(1.0).log10() } else { v };
        let unscale = |y: f64| if log { 10f64.powf(y) } else { y };
        let top = cases
            .iter()
            .flat_map(|c| servers.iter().filter_map(move |s| med(c, s, key)))
            .fold(0.0, f64::max)
            .max(1.0);
        let ymax = if log {
            scale(top).ceil() + 0.25
        } else {
            top * 1.15
        };
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .margin_bottom(48)
            .x_label_area_size(10)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..cases.len() as f64, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(if log { ymax.floor() as usize + 1 } else { 10 })
            .y_label_formatter(&|y| {
                if log && y.fract().abs() > 1e-9 {
                    return String::new();
                }
                let v = unscale(*y);
                if v >= 10_000.0 {
                    format!("{:.0}k", v / 1000.0)
                } else {
                    format!("{v:.0}")
                }
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        let n = servers.len().max(1) as f64;
        let width = 0.8 / n;
        for (si, server) in servers.iter().enumerate() {
            let color = COLORS[si % COLORS.len()];
            let bars: Vec<_> = cases
                .iter()
                .enumerate()
                .filter_map(|(ci, c)| {
                    let v = med(c, server, key)?;
                    let x0 = ci as f64 + 0.1 + si as f64 * width;
                    Some(Rectangle::new(
                        [(x0, 0.0), (x0 + width * 0.92, scale(v))],
                        color.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(server.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
            let values: Vec<_> = cases
                .iter()
                .enumerate()
                .filter_map(|(ci, c)| {
                    let v = med(c, server, key)?;
                    let x = ci as f64 + 0.1 + (si as f64 + 0.46) * width;
                    let label = if v >= 10_000.0 {
                        format!("{:.0}k", v / 1000.0)
                    } else {
                        format!("{v:.0}")
                    };
                    let style = TextStyle::from(("sans-serif", 11).into_font())
                        .pos(Pos::new(HPos::Center, VPos::Bottom));
                    Some(Text::new(label, (x, scale(v)), style))
                })
                .collect();
            chart.draw_series(values).map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        // Case names under each group, drawn on the root area in backend pixels.
        let style =
            TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (ci, c) in cases.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(ci as f64 + 0.5, 0.0));
            let (ox, oy) = root.get_base_pixel();
            root.draw(&Text::new(
                c.to_string(),
                (px - ox, py - oy + 8),
                style.clone(),
            ))
            .map_err(err)?;
        }
        Ok(())
    }
}
