//! The chart layer: fonts and style, the figure model ([`Figure`]: panels, axes, lines, bands,
//! bars), its renderer on the SVG and PNG backends, ticks and axes. The figures themselves are
//! one file each beside this one.

use crate::plot::read::{Stats, SweepAxis};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font family name the embedded fonts are registered under (SVG text names it too).
pub(crate) const FAMILY: &str = "sans-serif";
pub(crate) static FONT_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
pub(crate) static FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

// Text sizes in pixels, for a figure printed about 1200 px across a column or page.
pub(crate) const TITLE_PX: u32 = 30;
pub(crate) const PANEL_TITLE_PX: u32 = 24;
pub(crate) const DESC_PX: u32 = 22;
pub(crate) const TICK_PX: u32 = 20;
pub(crate) const LEGEND_PX: u32 = 22;
pub(crate) const NOTE_PX: u32 = 18;
pub(crate) const MARGIN: i32 = 20;
/// Width and opacity of a [`Stroke::Broad`] line.
pub(crate) const BROAD_WIDTH: u32 = 9;
pub(crate) const BROAD_ALPHA: f64 = 0.45;

/// Registers the embedded DejaVu Sans (regular and bold) with plotters, once.
pub fn register_fonts() -> Result<(), String> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_REGULAR).is_ok()
            && plotters::style::register_font(FAMILY, FontStyle::Bold, FONT_BOLD).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be loaded".into())
    }
}

pub(crate) fn font(px: u32, bold: bool) -> FontDesc<'static> {
    let style = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    FontDesc::new(FontFamily::Name(FAMILY), px as f64, style)
}

/// Width of `text` in pixels at `px`.
pub(crate) fn text_width(text: &str, px: u32, bold: bool) -> i32 {
    font(px, bold)
        .box_size(text)
        .map(|(w, _)| w as i32)
        .unwrap_or((text.chars().count() as f64 * px as f64 * 0.62) as i32)
}

// ---------------------------------------------------------------------------------------------
// Colours

/// The Okabe–Ito colour-blind-safe palette (black, orange, sky blue, bluish green, yellow,
/// blue, vermillion, reddish purple).
pub(crate) const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(240, 228, 66),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
];

/// Fixed colours of the built-in learners, so that a learner looks the same in every run.
pub(crate) const KNOWN: [(&str, usize); 7] = [
    ("bp-digital", 0),
    ("bp-oracle", 5),
    ("bp-mirror", 2),
    ("fa", 1),
    ("dfa", 6),
    ("sg", 3),
    ("ff", 7),
];

/// One colour per learner of the run (index = learner index): built-in learners keep their
/// fixed colour; others take the colours left, in order of appearance.
pub fn learner_colours(learners: &[String]) -> Vec<RGBColor> {
    let fixed = |name: &str| KNOWN.iter().find(|(n, _)| *n == name).map(|&(_, i)| i);
    let used: Vec<usize> = learners.iter().filter_map(|l| fixed(l)).collect();
    // Yellow is pale on white: it comes after grey and the unused palette colours.
    let mut pool: Vec<RGBColor> = [1, 2, 3, 5, 6, 7, 0]
        .iter()
        .filter(|i| !used.contains(i))
        .map(|&i| OKABE_ITO[i])
        .collect();
    pool.insert(0, RGBColor(110, 110, 110));
    pool.push(RGBColor(190, 175, 20));
    let mut next = 0;
    learners
        .iter()
        .map(|l| match fixed(l) {
            Some(i) => OKABE_ITO[i],
            None => {
                let c = pool[next % pool.len()];
                next += 1;
                c
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The figure as data

/// A point marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Marker {
    /// No marker.
    None,
    /// Filled circle.
    Circle,
    /// Hollow square.
    Square,
}

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// A continuous line.
    Solid,
    /// Dashes.
    Dashed,
    /// Dots.
    Dotted,
    /// A broad, pale continuous line: a background quantity drawn under the data (the
    /// colour is lightened).
    Broad,
}

impl Stroke {
    /// The strokes in the order sweep values take them.
    pub const ALL: [Stroke; 3] = [Stroke::Solid, Stroke::Dashed, Stroke::Dotted];
}

/// What a legend entry shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// A line, solid, dashed or dotted, with a marker.
    Line {
        /// How the line is stroked.
        stroke: Stroke,
        /// The marker on it.
        marker: Marker,
    },
    /// A filled patch (bars, bands).
    Patch {
        /// Opacity of the fill.
        alpha: f64,
    },
    /// An × marker.
    Cross,
}

/// One legend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    /// The text.
    pub label: String,
    /// The colour of the sample.
    pub colour: RGBColor,
    /// The sample drawn before the text.
    pub sample: Sample,
}

/// Something drawn in a panel, in data coordinates (already transformed for log axes).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A shaded band between `lower` and `upper` (same x values).
    Band {
        /// Fill colour (drawn translucent).
        colour: RGBColor,
        /// Upper edge.
        upper: Vec<(f64, f64)>,
        /// Lower edge.
        lower: Vec<(f64, f64)>,
    },
    /// A polyline with markers at its points.
    Line {
        /// Colour.
        colour: RGBColor,
        /// Points.
        points: Vec<(f64, f64)>,
        /// How the line is stroked.
        stroke: Stroke,
        /// Marker at each point.
        marker: Marker,
    },
    /// A vertical error bar with caps.
    ErrorBar {
        /// Colour.
        colour: RGBColor,
        /// Position.
        x: f64,
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// A filled bar.
    Bar {
        /// Colour.
        colour: RGBColor,
        /// Left and right edges.
        x: (f64, f64),
        /// Bottom and top.
        y: (f64, f64),
    },
    /// An × marker.
    Cross {
        /// Colour.
        colour: RGBColor,
        /// Position.
        at: (f64, f64),
    },
}

/// One axis of a panel: its range, labelled ticks and light grid lines, in (transformed) data
/// coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisSpec {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// Labelled ticks (with grid lines).
    pub ticks: Vec<(f64, String)>,
    /// Unlabelled light grid lines.
    pub minor: Vec<f64>,
    /// The axis label, with its unit.
    pub desc: String,
    /// Whether grid lines are drawn at the ticks (not between bars).
    pub grid: bool,
}

/// One panel: a chart with its own title.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// Horizontal axis.
    pub x: AxisSpec,
    /// Vertical axis.
    pub y: AxisSpec,
    /// What is drawn, in order.
    pub items: Vec<Item>,
    /// A second vertical axis on the right, with what is drawn against it.
    pub secondary: Option<Secondary>,
}

/// A secondary (right-hand) vertical axis of a panel and the items drawn in its coordinates
/// (under the primary items, so the main data stays on top).
#[derive(Debug, Clone, PartialEq)]
pub struct Secondary {
    /// The axis: range, ticks (no grid lines of its own) and label.
    pub axis: AxisSpec,
    /// Colour of the axis' tick labels and label (the colour of its data).
    pub colour: RGBColor,
    /// What is drawn against this axis, in order.
    pub items: Vec<Item>,
}

/// A whole figure: title, legend strip and notes above a grid of panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File name without extension.
    pub name: String,
    /// Title.
    pub title: String,
    /// Legend entries (drawn in a strip under the title, never over the data).
    pub legend: Vec<LegendEntry>,
    /// Lines of small text under the legend.
    pub notes: Vec<String>,
    /// Panels, row by row.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub cols: usize,
    /// Size of one panel in pixels.
    pub panel_size: (u32, u32),
}

/// The line style of a drift curve: solid circles without global drift compensation,
/// dashed squares with it.
pub(crate) fn compensation_style(compensated: bool) -> (Stroke, Marker) {
    if compensated {
        (Stroke::Dashed, Marker::Square)
    } else {
        (Stroke::Solid, Marker::Circle)
    }
}

/// Legend entries for the two styles of [`compensation_style`], each only where it is drawn.
pub(crate) fn compensation_legend(plain: bool, compensated: bool) -> Vec<LegendEntry> {
    [
        (plain, false, "no compensation"),
        (compensated, true, "global drift compensation"),
    ]
    .into_iter()
    .filter(|(drawn, _, _)| *drawn)
    .map(|(_, comp, label)| {
        let (stroke, marker) = compensation_style(comp);
        LegendEntry {
            label: label.into(),
            colour: RGBColor(60, 60, 60),
            sample: Sample::Line { stroke, marker },
        }
    })
    .collect()
}

pub(crate) fn layout(n: usize) -> (usize, (u32, u32)) {
    let cols = match n {
        0..=3 => n.max(1),
        4 => 2,
        5..=9 => 3,
        _ => 4,
    };
    let size = if cols == 1 { (1200, 700) } else { (600, 480) };
    (cols, size)
}

impl Figure {
    pub(crate) fn width(&self) -> u32 {
        (self.cols as u32 * self.panel_size.0).max(800)
    }

    /// The legend entries' positions `(x, row)`, wrapped to the figure's width.
    pub(crate) fn legend_rows(&self) -> Vec<(i32, usize)> {
        let mut out = Vec::new();
        let (mut x, mut row) = (MARGIN, 0);
        let limit = self.width() as i32 - MARGIN;
        for e in &self.legend {
            let w = 48 + text_width(&e.label, LEGEND_PX, false) + 28;
            if x + w > limit && x > MARGIN {
                x = MARGIN;
                row += 1;
            }
            out.push((x, row));
            x += w;
        }
        out
    }

    /// The notes, word-wrapped to the figure's width.
    pub(crate) fn note_lines(&self) -> Vec<String> {
        let limit = self.width() as i32 - 2 * MARGIN;
        let mut lines = Vec::new();
        for note in &self.notes {
            let mut line = String::new();
            for word in note.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if !line.is_empty() && text_width(&candidate, NOTE_PX, false) > limit {
                    lines.push(std::mem::replace(&mut line, word.to_string()));
                } else {
                    line = candidate;
                }
            }
            lines.push(line);
        }
        lines
    }

    pub(crate) fn header_height(&self) -> u32 {
        let legend_rows = self.legend_rows().last().map_or(0, |l| l.1 + 1);
        (16 + 40 + 34 * legend_rows + 26 * self.note_lines().len() + 10) as u32
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(self.cols) as u32;
        (
            self.width(),
            self.header_height() + rows * self.panel_size.1,
        )
    }

    pub(crate) fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let (w, _) = self.size();
        let (header, body) = root.split_vertically(self.header_height());
        header
            .draw(&Text::new(
                self.title.clone(),
                (w as i32 / 2, 16),
                TextStyle::from(font(TITLE_PX, true)).pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(err)?;
        let legend_top = 16 + 40 + 17;
        for (e, (x, row)) in self.legend.iter().zip(self.legend_rows()) {
            let y = legend_top + 34 * row as i32;
            draw_sample(&header, e, x, y).map_err(err)?;
            header
                .draw(&Text::new(
                    e.label.clone(),
                    (x + 48, y),
                    TextStyle::from(font(LEGEND_PX, false)).pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(err)?;
        }
        let rows = self.legend_rows().last().map_or(0, |l| l.1 + 1) as i32;
        for (i, note) in self.note_lines().into_iter().enumerate() {
            header
                .draw(&Text::new(
                    note,
                    (MARGIN, 16 + 40 + 34 * rows + 26 * i as i32 + 4),
                    TextStyle::from(font(NOTE_PX, false))
                        .color(&RGBColor(60, 60, 60))
                        .pos(Pos::new(HPos::Left, VPos::Top)),
                ))
                .map_err(err)?;
        }
        let rows = self.panels.len().div_ceil(self.cols);
        let (pw, ph) = self.panel_size;
        let grid = body.margin(0, 0, 0, 0);
        for (i, panel) in self.panels.iter().enumerate() {
            let (r, c) = ((i / self.cols) as i32, (i % self.cols) as i32);
            debug_assert!((r as usize) < rows);
            let area = grid
                .clone()
                .shrink((c * pw as i32, r * ph as i32), (pw, ph));
            panel.draw(&area).map_err(err)?;
        }
        Ok(())
    }
}

pub(crate) fn draw_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    e: &LegendEntry,
    x: i32,
    y: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let c = e.colour;
    match e.sample {
        Sample::Line { stroke, marker } => {
            match stroke {
                Stroke::Dashed => {
                    for k in 0..3 {
                        let x0 = x + k * 15;
                        area.draw(&PathElement::new(
                            vec![(x0, y), (x0 + 9, y)],
                            c.stroke_width(3),
                        ))?;
                    }
                }
                Stroke::Dotted => {
                    for k in 0..5 {
                        area.draw(&Circle::new((x + 2 + 8 * k, y), 2, c.filled()))?;
                    }
                }
                Stroke::Solid => {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 38, y)],
                        c.stroke_width(3),
                    ))?;
                }
                Stroke::Broad => {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 38, y)],
                        c.mix(BROAD_ALPHA).stroke_width(BROAD_WIDTH),
                    ))?;
                }
            }
            draw_marker(area, marker, c, (x + 19, y))?;
        }
        Sample::Patch { alpha } => {
            area.draw(&Rectangle::new(
                [(x + 4, y - 10), (x + 34, y + 10)],
                c.mix(alpha).filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(x + 4, y - 10), (x + 34, y + 10)],
                c.stroke_width(1),
            ))?;
        }
        Sample::Cross => {
            area.draw(&Cross::new((x + 19, y), 7, c.stroke_width(3)))?;
        }
    }
    Ok(())
}

pub(crate) fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    marker: Marker,
    c: RGBColor,
    at: (i32, i32),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    match marker {
        Marker::None => Ok(()),
        Marker::Circle => area.draw(&Circle::new(at, 6, c.filled())),
        Marker::Square => {
            area.draw(&Rectangle::new(
                [(at.0 - 6, at.1 - 6), (at.0 + 6, at.1 + 6)],
                WHITE.filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(at.0 - 6, at.1 - 6), (at.0 + 6, at.1 + 6)],
                c.stroke_width(2),
            ))
        }
    }
}

/// Draws `items` on `$chart` with its method `$draw` (`draw_series` for the primary
/// coordinates, `draw_secondary_series` for the secondary ones), clamping points to the ranges
/// `$xr` and `$yr`. A macro, because the two methods take differently typed charts.
macro_rules! draw_items {
    ($chart:expr, $draw:ident, $items:expr, $xr:expr, $yr:expr) => {{
        let (xr, yr): ((f64, f64), (f64, f64)) = ($xr, $yr);
        let clamp = |p: (f64, f64)| (p.0.clamp(xr.0, xr.1), p.1.clamp(yr.0, yr.1));
        for item in $items {
            match item {
                Item::Band {
                    colour,
                    upper,
                    lower,
                } => {
                    let mut pts: Vec<(f64, f64)> = upper.iter().map(|&p| clamp(p)).collect();
                    pts.extend(lower.iter().rev().map(|&p| clamp(p)));
                    $chart.$draw(std::iter::once(Polygon::new(
                        pts,
                        colour.mix(0.18).filled(),
                    )))?;
                }
                Item::Line {
                    colour,
                    points,
                    stroke,
                    marker,
                } => {
                    let pts: Vec<(f64, f64)> = points.iter().map(|&p| clamp(p)).collect();
                    match stroke {
                        Stroke::Dashed => {
                            $chart.$draw(DashedLineSeries::new(
                                pts.clone(),
                                12,
                                7,
                                colour.stroke_width(3),
                            ))?;
                        }
                        Stroke::Dotted => {
                            let c = *colour;
                            $chart.$draw(DottedLineSeries::new(pts.clone(), 0, 8, move |p| {
                                Circle::new(p, 2, c.filled())
                            }))?;
                        }
                        Stroke::Solid => {
                            $chart.$draw(LineSeries::new(pts.clone(), colour.stroke_width(3)))?;
                        }
                        Stroke::Broad => {
                            $chart.$draw(LineSeries::new(
                                pts.clone(),
                                colour.mix(BROAD_ALPHA).stroke_width(BROAD_WIDTH),
                            ))?;
                        }
                    }
                    for p in pts {
                        match marker {
                            Marker::None => {}
                            Marker::Circle => {
                                $chart.$draw(std::iter::once(
                                    EmptyElement::at(p) + Circle::new((0, 0), 6, colour.filled()),
                                ))?;
                            }
                            Marker::Square => {
                                $chart.$draw(std::iter::once(
                                    EmptyElement::at(p)
                                        + Rectangle::new([(-6, -6), (6, 6)], WHITE.filled())
                                        + Rectangle::new(
                                            [(-6, -6), (6, 6)],
                                            colour.stroke_width(2),
                                        ),
                                ))?;
                            }
                        }
                    }
                }
                Item::ErrorBar { colour, x, lo, hi } => {
                    let (a, b) = (clamp((*x, *lo)), clamp((*x, *hi)));
                    let style = colour.stroke_width(2);
                    $chart.$draw(std::iter::once(PathElement::new(vec![a, b], style)))?;
                    for end in [a, b] {
                        $chart.$draw(std::iter::once(
                            EmptyElement::at(end) + PathElement::new(vec![(-7, 0), (7, 0)], style),
                        ))?;
                    }
                }
                Item::Bar { colour, x, y } => {
                    let r = [clamp((x.0, y.0)), clamp((x.1, y.1))];
                    $chart.$draw(std::iter::once(Rectangle::new(r, colour.filled())))?;
                    $chart.$draw(std::iter::once(Rectangle::new(
                        r,
                        RGBColor(30, 30, 30).stroke_width(1),
                    )))?;
                }
                Item::Cross { colour, at } => {
                    $chart.$draw(std::iter::once(Cross::new(
                        clamp(*at),
                        8,
                        colour.stroke_width(3),
                    )))?;
                }
            }
        }
    }};
}

/// The label of the tick at `v`, or nothing (plotters asks only for our own tick positions).
pub(crate) fn tick_label(ticks: &[(f64, String)], v: f64) -> String {
    ticks
        .iter()
        .find(|t| t.0 == v)
        .map(|t| t.1.clone())
        .unwrap_or_default()
}

/// Width of the widest tick label of `axis`, in pixels.
pub(crate) fn tick_width(axis: &AxisSpec) -> i32 {
    axis.ticks
        .iter()
        .map(|(_, l)| text_width(l, TICK_PX, false))
        .max()
        .unwrap_or(0)
}

impl Panel {
    pub(crate) fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(self.title.clone(), font(PANEL_TITLE_PX, true))
            .margin_top(10)
            .margin_bottom(6)
            .margin_left(12)
            .x_label_area_size(TICK_PX + DESC_PX + 22)
            .y_label_area_size(tick_width(&self.y) as u32 + DESC_PX + 30);
        match &self.secondary {
            None => builder.margin_right(30),
            Some(s) => builder
                .margin_right(12)
                .right_y_label_area_size(tick_width(&s.axis) as u32 + DESC_PX + 30),
        };
        let chart = builder.build_cartesian_2d(Ticked::of(&self.x), Ticked::of(&self.y))?;
        let xl = |v: &f64| tick_label(&self.x.ticks, *v);
        let yl = |v: &f64| tick_label(&self.y.ticks, *v);
        let xr = (self.x.lo, self.x.hi);
        let yr = (self.y.lo, self.y.hi);
        let configure = |chart: &mut ChartContext<DB, Cartesian2d<Ticked, Ticked>>| {
            let mut mesh = chart.configure_mesh();
            if !self.x.grid {
                mesh.disable_x_mesh();
            }
            if !self.y.grid {
                mesh.disable_y_mesh();
            }
            mesh.x_desc(self.x.desc.clone())
                .y_desc(self.y.desc.clone())
                .x_label_formatter(&xl)
                .y_label_formatter(&yl)
                .label_style(font(TICK_PX, false))
                .axis_desc_style(font(DESC_PX, false))
                .bold_line_style(RGBColor(205, 205, 205).stroke_width(1))
                .light_line_style(RGBColor(238, 238, 238).stroke_width(1))
                .axis_style(RGBColor(40, 40, 40).stroke_width(1))
                .set_all_tick_mark_size(6)
                .draw()
        };
        match &self.secondary {
            None => {
                let mut chart = chart;
                configure(&mut chart)?;
                draw_items!(chart, draw_series, &self.items, xr, yr);
            }
            Some(s) => {
                let mut chart = chart.set_secondary_coord(Ticked::of(&self.x), Ticked::of(&s.axis));
                configure(&mut chart)?;
                let sl = |v: &f64| tick_label(&s.axis.ticks, *v);
                chart
                    .configure_secondary_axes()
                    .y_desc(s.axis.desc.clone())
                    .y_label_formatter(&sl)
                    .label_style(font(TICK_PX, false).color(&s.colour))
                    .axis_desc_style(font(DESC_PX, false).color(&s.colour))
                    .axis_style(s.colour.stroke_width(1))
                    .set_all_tick_mark_size(6)
                    .draw()?;
                let sr = (s.axis.lo, s.axis.hi);
                draw_items!(chart, draw_secondary_series, &s.items, xr, sr);
                draw_items!(chart, draw_series, &self.items, xr, yr);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Axes and ticks

/// A linear plotters coordinate with our own tick positions (labels come from the formatter).
pub(crate) struct Ticked {
    lo: f64,
    hi: f64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ticked {
    pub(crate) fn of(a: &AxisSpec) -> Ticked {
        Ticked {
            lo: a.lo,
            hi: a.hi,
            major: a.ticks.iter().map(|t| t.0).collect(),
            minor: a.minor.clone(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = if self.hi > self.lo {
            (v - self.lo) / (self.hi - self.lo)
        } else {
            0.5
        };
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// "Nice" tick positions (1, 2 or 5 × 10^k apart) covering `[lo, hi]`, about `target` of them,
/// and the step.
pub fn nice_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> (Vec<f64>, f64) {
    let span = (hi - lo).max(1e-12);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = (if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    } * mag)
        .max(min_step);
    let mut ticks = Vec::new();
    let mut k = (lo / step).ceil();
    while k * step <= hi + step * 1e-9 {
        ticks.push(k * step);
        k += 1.0;
    }
    (ticks, step)
}

pub(crate) fn fmt_tick(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        format!("{:.decimals$}", 0.0)
    } else {
        s
    }
}

pub(crate) fn superscript(n: i32) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect()
}

/// `m × 10^k` written for a tick label: plain (`0.01`) or as a power (`10⁻⁹`).
pub(crate) fn fmt_power(m: u32, k: i32, plain: bool) -> String {
    if plain {
        let v = m as f64 * 10f64.powi(k);
        let decimals = (-k).max(0) as usize;
        format!("{v:.decimals$}")
    } else if m == 1 {
        format!("10{}", superscript(k))
    } else {
        format!("{m}·10{}", superscript(k))
    }
}

/// A linear axis over `[lo, hi]` with nice ticks.
pub(crate) fn linear_axis(
    lo: f64,
    hi: f64,
    target: usize,
    min_step: f64,
    desc: String,
) -> AxisSpec {
    let (ticks, step) = nice_ticks(lo, hi, target, min_step);
    AxisSpec {
        lo,
        hi,
        ticks: ticks.into_iter().map(|t| (t, fmt_tick(t, step))).collect(),
        minor: Vec::new(),
        desc,
        grid: true,
    }
}

/// A log axis in log10 coordinates over `[lo, hi]` (decades), with labelled decades (every
/// second one when there are many) and light lines at 2…9 × 10^k.
/// An axis over the counts `lo..=hi` (epochs, tasks) padded by `pad` of the span on each side
/// (half a step when there is one value); integer ticks from 1.
pub fn count_axis(lo: u32, hi: u32, pad: f64, desc: &str) -> AxisSpec {
    let (xlo, xhi) = if lo == hi {
        (lo as f64 - 0.5, hi as f64 + 0.5)
    } else {
        let pad = pad * (hi - lo) as f64;
        (lo as f64 - pad, hi as f64 + pad)
    };
    let mut x = linear_axis(xlo, xhi, 8, 1.0, desc.into());
    x.ticks.retain(|t| t.0 >= 1.0);
    x
}

pub(crate) fn log_axis(lo: f64, hi: f64, desc: String) -> AxisSpec {
    let (k0, k1) = (lo.floor() as i32, hi.ceil() as i32);
    let decades = (k1 - k0).max(1);
    let every = if decades > 8 { 2 } else { 1 };
    // One notation on the whole axis: plain numbers when every decade reads well so.
    let plain = k0 >= -3 && k1 <= 4;
    let mut ticks = Vec::new();
    let mut minor = Vec::new();
    for k in k0..=k1 {
        let p = k as f64;
        if p >= lo - 1e-9 && p <= hi + 1e-9 && k.rem_euclid(every) == 0 {
            ticks.push((p, fmt_power(1, k, plain)));
        }
        for m in 2..10u32 {
            let q = p + (m as f64).log10();
            if q > lo && q < hi {
                if decades <= 5 {
                    minor.push(q);
                }
                // Under two decades shown: label 2 and 5 as well, so there are enough labels.
                if decades <= 2 && (m == 2 || m == 5) {
                    ticks.push((q, fmt_power(m, k, plain)));
                }
            }
        }
    }
    ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
    AxisSpec {
        lo,
        hi,
        ticks,
        minor,
        desc,
        grid: true,
    }
}

/// Range `[lo, hi]` of `values` with a margin of `frac` of the span (at least `min_span`
/// wide), clamped to `[floor, ceil]`.
pub(crate) fn padded(
    values: impl IntoIterator<Item = f64>,
    frac: f64,
    min_span: f64,
    floor: f64,
    ceil: f64,
) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (floor.max(0.0), ceil.min(1.0));
    }
    if hi - lo < min_span {
        let mid = (hi + lo) / 2.0;
        lo = mid - min_span / 2.0;
        hi = mid + min_span / 2.0;
    }
    let pad = (hi - lo) * frac;
    let (mut lo, mut hi) = ((lo - pad).max(floor), (hi + pad).min(ceil));
    if hi <= lo {
        // Everything clamped to one end: open the range inwards.
        if hi >= ceil {
            lo = hi - min_span;
        } else {
            hi = lo + min_span;
        }
    }
    (lo, hi)
}

/// The accuracy axis (percent) fitting `values` (percent), with margins, within [0, 100].
pub(crate) fn accuracy_axis(values: impl IntoIterator<Item = f64>, desc: &str) -> AxisSpec {
    let (lo, hi) = padded(values, 0.08, 5.0, 0.0, 100.0);
    linear_axis(lo, hi, 6, 0.0, desc.to_string())
}

/// Where each value of a sweep axis goes on a horizontal axis, and that axis.
///
/// Categorical values (or a single value) are evenly spaced with their labels; numbers > 0
/// spanning more than two decades go on a log axis (a 0 among them gets its own slot one
/// decade below the smallest positive value, labelled 0); other numbers on a linear axis.
pub fn sweep_x(axis: &SweepAxis, desc: String) -> (Vec<f64>, AxisSpec) {
    let categorical = |desc: String| {
        let n = axis.labels.len();
        let pos: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let spec = AxisSpec {
            lo: -0.5,
            hi: n as f64 - 0.5,
            ticks: axis
                .labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i as f64, l.clone()))
                .collect(),
            minor: Vec::new(),
            desc,
            grid: true,
        };
        (pos, spec)
    };
    let Some(nums) = &axis.numbers else {
        return categorical(desc);
    };
    // A non-finite value (`inf`: "never") has no place on a numeric axis.
    if nums.len() < 2 || nums.iter().any(|v| !v.is_finite()) {
        return categorical(desc);
    }
    let positive: Vec<f64> = nums.iter().copied().filter(|&v| v > 0.0).collect();
    let any_negative = nums.iter().any(|&v| v < 0.0);
    let min_pos = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let max_pos = positive.iter().copied().fold(0.0, f64::max);
    if !any_negative && positive.len() >= 2 && max_pos / min_pos > 100.0 {
        let zero_at = min_pos.log10().floor() - 1.0;
        let pos: Vec<f64> = nums
            .iter()
            .map(|&v| if v > 0.0 { v.log10() } else { zero_at })
            .collect();
        let lo = pos.iter().copied().fold(f64::INFINITY, f64::min) - 0.25;
        let hi = max_pos.log10() + 0.25;
        let mut spec = log_axis(lo, hi, desc);
        if nums.contains(&0.0) {
            spec.ticks.retain(|t| t.0 > zero_at + 0.5);
            spec.minor.retain(|&m| m > min_pos.log10());
            spec.ticks.insert(0, (zero_at, "0".into()));
        }
        return (pos, spec);
    }
    let (lo, hi) = padded(
        nums.iter().copied(),
        0.06,
        1e-12,
        f64::NEG_INFINITY,
        f64::INFINITY,
    );
    (nums.clone(), linear_axis(lo, hi, 6, 0.0, desc))
}

/// A log time axis (log10 seconds) with human tick labels (1 s, 1 min, 1 h, 1 d, 1 mo, 1 y…)
/// chosen so that labels do not collide on a plot `width_px` wide.
pub(crate) fn time_axis(lo: f64, hi: f64, width_px: f64, desc: String) -> AxisSpec {
    const DAY: f64 = 86_400.0;
    const YEAR: f64 = 365.25 * DAY;
    // In order of preference.
    let candidates: [(f64, &str); 18] = [
        (1.0, "1 s"),
        (3600.0, "1 h"),
        (DAY, "1 d"),
        (YEAR, "1 y"),
        (60.0, "1 min"),
        (30.0 * DAY, "1 mo"),
        (10.0 * YEAR, "10 y"),
        (1e-3, "1 ms"),
        (7.0 * DAY, "1 wk"),
        (100.0 * YEAR, "100 y"),
        (10.0, "10 s"),
        (600.0, "10 min"),
        (0.1, "0.1 s"),
        (1e-6, "1 µs"),
        (1e3 * YEAR, "1000 y"),
        (0.01, "10 ms"),
        (1e4 * YEAR, "10⁴ y"),
        (1e-9, "1 ns"),
    ];
    let per_unit = width_px / (hi - lo).max(1e-9);
    let mut chosen: Vec<(f64, String, f64)> = Vec::new();
    for (t, label) in candidates {
        let p = t.log10();
        if p < lo || p > hi {
            continue;
        }
        let half = text_width(label, TICK_PX, false) as f64 / 2.0 + 10.0;
        let clear = chosen
            .iter()
            .all(|(q, _, h)| (q - p).abs() * per_unit > half + h);
        if clear {
            chosen.push((p, label.to_string(), half));
        }
    }
    chosen.sort_by(|a, b| a.0.total_cmp(&b.0));
    let minor = ((lo.ceil() as i32)..=(hi.floor() as i32))
        .map(|k| k as f64)
        .filter(|p| chosen.iter().all(|c| (c.0 - p).abs() > 1e-9))
        .collect();
    AxisSpec {
        lo,
        hi,
        ticks: chosen.into_iter().map(|c| (c.0, c.1)).collect(),
        minor,
        desc,
        grid: true,
    }
}

/// The unit of a parameter path, from its suffix (`_s`, `_j`, `_us`…), as ` (unit)`.
pub(crate) fn unit_of(path: &str) -> &'static str {
    let last = path.rsplit('.').next().unwrap_or(path);
    for (suffix, unit) in [
        ("_per_s", " (1/s)"),
        ("_us", " (µS)"),
        ("_ns", " (ns)"),
        ("_s", " (s)"),
        ("_j", " (J)"),
        ("_pulses", " (pulses)"),
    ] {
        if last.ends_with(suffix) {
            return unit;
        }
    }
    ""
}

/// Whether a standard deviation is worth an error bar or band (not rounding noise).
pub(crate) fn has_spread(s: &Stats) -> bool {
    s.std > 1e-9 * s.mean.abs()
}

/// A file-name-safe version of `s`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '=' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
