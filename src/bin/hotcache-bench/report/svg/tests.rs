//! The charts' SVG: well formed, scaled to the plot area, no NaN from bad data.

use super::*;

/// A small well-formedness check: tags balance, attributes are quoted, and no
/// raw `<` or stray `&` appears in text (the parts of XML this writer produces).
pub fn well_formed(xml: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
            if open != name.trim() {
                return Err(format!("<{open}> closed by </{name}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name = body.split_whitespace().next().ok_or("empty tag")?.to_string();
        check_attributes(&body[name.len()..])?;
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest)?;
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity) {
            return Err(format!("stray & in {text:?}"));
        }
    }
    if text.contains('>') && !text.trim().is_empty() {
        return Err(format!("raw > in {text:?}"));
    }
    Ok(())
}

fn check_attributes(mut attrs: &str) -> Result<(), String> {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return Ok(());
        }
        let eq = attrs.find('=').ok_or(format!("attribute without value: {attrs}"))?;
        let after = &attrs[eq + 1..];
        if !after.starts_with('"') {
            return Err(format!("unquoted attribute: {attrs}"));
        }
        let close = after[1..].find('"').ok_or("unterminated attribute")? + 1;
        let value = &after[1..close];
        if value.contains('<') {
            return Err(format!("< in attribute: {value}"));
        }
        check_text(&value.replace('>', ""))?;
        attrs = &after[close + 1..];
    }
}

fn line(points: Vec<(f64, f64)>) -> LineChart {
    LineChart {
        title: "ops <&> \"per\" second".into(),
        x_label: "seconds".into(),
        y_label: "ops/s".into(),
        series: vec![Series { name: "a&b".into(), points }],
        x_at_least: None,
        y_at_least: None,
    }
}

#[test]
fn line_chart_is_well_formed_and_scaled() {
    let svg = line(vec![(0.5, 100.0), (1.5, 180_000.0), (2.5, 150_000.0)]).render();
    well_formed(&svg).unwrap();
    assert!(svg.contains("ops &lt;&amp;&gt; &quot;per&quot; second"), "{svg}");
    assert!(svg.contains("data-name=\"a&amp;b\" data-points=\"3\""), "{svg}");
    // The y axis tops out at the next nice value above the data.
    assert!(svg.contains(">200k</text>") && !svg.contains(">250k</text>"), "{svg}");
    assert!(svg.contains("<polyline"));
    // Every coordinate lies inside the chart.
    let pts = svg.split(" points=\"").nth(1).unwrap().split('"').next().unwrap();
    for p in pts.split(' ') {
        let (x, y) = p.split_once(',').unwrap();
        let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
        assert!((LEFT..=WIDTH - RIGHT).contains(&x), "{x}");
        assert!((TOP..=HEIGHT - BOTTOM).contains(&y), "{y}");
    }
}

#[test]
fn no_nan_from_bad_or_missing_data() {
    let bad = vec![(f64::NAN, 1.0), (1.0, f64::INFINITY), (2.0, f64::NAN)];
    for chart in [line(bad), line(Vec::new()), line(vec![(0.0, 0.0)])] {
        let svg = chart.render();
        well_formed(&svg).unwrap();
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
    assert!(line(Vec::new()).render().contains("no data"));
    let bars = BarChart {
        title: "t".into(),
        y_label: "y".into(),
        groups: vec!["GET P1".into(), "SET P1".into()],
        series: vec![("r".into(), vec![Some(f64::NAN), None]), ("h".into(), vec![])],
    };
    let svg = bars.render();
    well_formed(&svg).unwrap();
    assert!(!svg.contains("NaN") && svg.contains("no data"), "{svg}");
}

#[test]
fn bars_and_stacking() {
    let bars = BarChart {
        title: "ops/s".into(),
        y_label: "ops/s".into(),
        groups: vec!["GET P1".into(), "GET P16".into()],
        series: vec![
            ("redis".into(), vec![Some(180_000.0), Some(1_700_000.0)]),
            ("hotcache".into(), vec![Some(170_000.0), None]),
        ],
    };
    let svg = bars.render();
    well_formed(&svg).unwrap();
    assert!(svg.contains("data-name=\"hotcache\" data-points=\"1\""), "{svg}");
    assert!(svg.contains(">1.70M</text>") && svg.contains(">2.0M</text>"), "{svg}");
    let doc = stack(&[svg.clone(), line(vec![(1.0, 1.0)]).render()]);
    well_formed(&doc).unwrap();
    assert!(doc.contains(&format!("<svg y=\"{:.1}\" ", HEIGHT)), "{doc}");
    assert_eq!(short(1234.0), "1.23k");
    assert_eq!(short(0.512), "0.51");
}
