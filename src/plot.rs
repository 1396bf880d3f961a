//! SVG line charts for people to look at: the risk–coverage curve of a
//! backtest and the reliability diagram of a calibration. Both axes run
//! over [0, 1].

use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// One line of a chart.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn thin and grey, without markers: a reference, not data.
    pub reference: bool,
}

const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws the series as an SVG document, both axes over [0, 1].
pub fn chart(title: &str, x_desc: &str, y_desc: &str, series: &[Series]) -> Result<String> {
    let mut svg = String::new();
    let axes = Axes {
        x: 0.0..1.0,
        y: 0.0..1.02,
        x_desc,
        y_desc,
    };
    draw(&mut svg, title, &axes, series).map_err(|e| anyhow!("drawing {title}: {e}"))?;
    Ok(svg)
}

/// The training loss against the optimiser step.
pub fn loss_chart(points: &[(f64, f64)]) -> Result<String> {
    let max_x = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_y = points.iter().map(|p| p.1).fold(0.1, f64::max);
    let axes = Axes {
        x: 0.0..max_x,
        y: 0.0..max_y * 1.05,
        x_desc: "optimiser step",
        y_desc: "cross-entropy of the culprit's label",
    };
    let series = [Series {
        label: "training loss".into(),
        points: points.to_vec(),
        reference: false,
    }];
    let mut svg = String::new();
    draw(&mut svg, "LoRA training loss", &axes, &series)
        .map_err(|e| anyhow!("drawing the loss: {e}"))?;
    Ok(svg)
}

struct Axes<'a> {
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_desc: &'a str,
    y_desc: &'a str,
}

fn draw(svg: &mut String, title: &str, axes: &Axes<'_>, series: &[Series]) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, (760, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(text)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(axes.x.clone(), axes.y.clone())
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_labels(11)
        .y_labels(11)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(text)?;
    let mut colors = PALETTE.iter().cycle();
    for s in series {
        let (style, marker): (ShapeStyle, bool) = if s.reference {
            (RGBColor(150, 150, 150).stroke_width(1), false)
        } else {
            (colors.next().expect("cycle").stroke_width(2), true)
        };
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(text)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        if marker {
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|&p| Circle::new(p, 2, style.color.filled())),
                )
                .map_err(text)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(text)?;
    root.present().map_err(text)?;
    Ok(())
}

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_with_every_series() {
        let svg = chart(
            "risk-coverage",
            "coverage",
            "precision@5",
            &[
                Series {
                    label: "heuristic".into(),
                    points: vec![(0.1, 1.0), (0.5, 0.8), (1.0, 0.6)],
                    reference: false,
                },
                Series {
                    label: "target 0.90".into(),
                    points: vec![(0.0, 0.9), (1.0, 0.9)],
                    reference: true,
                },
            ],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("heuristic") && svg.contains("target 0.90"));
        assert!(svg.contains("<polyline") || svg.contains("<path"));
    }
}
