//! A chart drawn as SVG on the server: a line (or bars) over a span of
//! steps, with a quota line and its 80 % mark. Readable without JavaScript
//! and without colour (the marks are dashed and labelled), titled and
//! described for screen readers; the numbers go in a table beside it.

use leptos::prelude::*;

/// The drawing's size in SVG units (it scales to its box).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// What a chart shows.
#[derive(Debug, Clone)]
pub struct ChartData {
    /// Unique on the page: names the title and description for `aria-labelledby`.
    pub id: String,
    pub title: String,
    pub description: String,
    /// Steps from the start (hours, or days for bars) and values.
    pub points: Vec<(u32, f64)>,
    /// How many steps the chart spans.
    pub span: u32,
    pub bars: bool,
    pub quota: Option<f64>,
    /// The labels under the start, the middle and the end.
    pub x_labels: [String; 3],
    /// How a value reads on the axis.
    pub format: fn(f64) -> String,
}

fn round(v: f64) -> String {
    format!("{v:.1}")
}

/// The chart's SVG.
#[component]
pub fn Chart(data: ChartData) -> impl IntoView {
    let ChartData { id, title, description, points, span, bars, quota, x_labels, format } = data;
    let peak = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let top = peak.max(quota.map(|q| q * 1.05).unwrap_or(0.0)).max(1.0);
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let span = span.max(1) as f64;
    let x = move |step: f64| LEFT + step / span * plot_w;
    let y = move |v: f64| TOP + plot_h - (v / top).clamp(0.0, 1.0) * plot_h;
    let base = TOP + plot_h;
    let series = if bars {
        let w = (plot_w / span * 0.8).max(1.0);
        points
            .iter()
            .map(|(s, v)| {
                view! { <rect class="chart-bar" x=round(x(*s as f64)) y=round(y(*v)) width=round(w) height=round(base - y(*v))/> }
            })
            .collect_view()
            .into_any()
    } else {
        // A point between two of the same value adds nothing to the line.
        let kept = points.iter().enumerate().filter(|(i, p)| {
            let same = |j: Option<&(u32, f64)>| j.is_some_and(|q| q.1 == p.1);
            !(*i > 0 && same(points.get(i - 1)) && same(points.get(i + 1)))
        });
        let line = kept
            .map(|(_, p)| p)
            .map(|(s, v)| format!("{},{}", round(x(*s as f64 + 0.5)), round(y(*v))))
            .collect::<Vec<_>>();
        // The newest value is marked: a series of one point is seen too.
        let last = points.last().map(|(s, v)| {
            view! { <circle class="chart-dot" cx=round(x(*s as f64 + 0.5)) cy=round(y(*v)) r="3"/> }
        });
        view! { <polyline class="chart-line" points=line.join(" ")/>{last} }.into_any()
    };
    let marks = quota.map(|q| {
        let (yq, yw) = (round(y(q)), round(y(q * 0.8)));
        let (yq2, yw2) = (yq.clone(), yw.clone());
        view! {
            <line class="chart-quota" x1=LEFT.to_string() x2=(WIDTH - RIGHT).to_string() y1=yq.clone() y2=yq/>
            <text class="chart-mark" x=(WIDTH - RIGHT - 4.0).to_string() y=yq2 dy="-3" text-anchor="end">"quota"</text>
            <line class="chart-warn" x1=LEFT.to_string() x2=(WIDTH - RIGHT).to_string() y1=yw.clone() y2=yw/>
            <text class="chart-mark" x=(WIDTH - RIGHT - 4.0).to_string() y=yw2 dy="-3" text-anchor="end">"80 %"</text>
        }
    });
    let (title_id, desc_id) = (format!("{id}-title"), format!("{id}-desc"));
    let labelled_by = format!("{title_id} {desc_id}");
    let [x0, x1, x2] = x_labels;
    view! {
        <svg class="chart" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-labelledby=labelled_by>
            <title id=title_id>{title}</title>
            <desc id=desc_id>{description}</desc>
            <line class="chart-axis" x1=LEFT.to_string() x2=(WIDTH - RIGHT).to_string() y1=base.to_string() y2=base.to_string()/>
            <text class="chart-label" x=(LEFT - 6.0).to_string() y=base.to_string() text-anchor="end">{format(0.0)}</text>
            <text class="chart-label" x=(LEFT - 6.0).to_string() y=(TOP + 8.0).to_string() text-anchor="end">{format(top)}</text>
            {series}
            {marks}
            <text class="chart-label" x=LEFT.to_string() y=(HEIGHT - 6.0).to_string()>{x0}</text>
            <text class="chart-label" x=(LEFT + plot_w / 2.0).to_string() y=(HEIGHT - 6.0).to_string() text-anchor="middle">{x1}</text>
            <text class="chart-label" x=(WIDTH - RIGHT).to_string() y=(HEIGHT - 6.0).to_string() text-anchor="end">{x2}</text>
        </svg>
    }
}
