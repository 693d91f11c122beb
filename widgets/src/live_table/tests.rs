use super::*;

#[test]
fn columns_share_the_free_width_by_portion() {
    let columns =
        [Column::new("a").width(100.0), Column::new("b"), Column::new("c").width(Length::FillPortion(3))];
    assert_eq!(column_widths(&columns, 500.0), vec![100.0, 100.0, 300.0]);
}

/// The widths, to a hundredth of a pixel.
fn rounded(columns: &[Column], total: f32) -> Vec<f32> {
    column_widths(columns, total).into_iter().map(|w| (w * 100.0).round() / 100.0).collect()
}

#[test]
fn a_narrow_table_shrinks_every_column_and_loses_none() {
    let columns = [Column::new("a").width(100.0), Column::new("b").width(100.0), Column::new("c")];
    // Room for the fixed widths and the Fill column's minimum: as given.
    assert_eq!(rounded(&columns, 300.0), vec![100.0, 100.0, 100.0]);
    // Less: every column at its minimum (60 each), the 40 left shared by the fixed ones.
    assert_eq!(rounded(&columns, 220.0), vec![80.0, 80.0, 60.0]);
    // Not even the minimums: all alike.
    assert_eq!(rounded(&columns, 90.0), vec![30.0, 30.0, 30.0]);
    // An explicit minimum is kept before others shrink further.
    let columns = [Column::new("a").width(100.0), Column::new("actions").width(200.0).min_width(180.0)];
    assert_eq!(rounded(&columns, 240.0), vec![60.0, 180.0]);
    for total in [0.0, 10.0, 133.0, 250.0, 300.0, 1000.0] {
        let sum: f32 = column_widths(&columns, total).iter().sum();
        assert!(sum <= total + 1e-3, "{total}: {sum}");
    }
}

#[test]
fn only_rows_in_view_are_visible() {
    assert_eq!(visible_rows(0.0, 100.0, 20.0, 1_000), 0..5);
    assert_eq!(visible_rows(30.0, 100.0, 20.0, 1_000), 1..7);
    assert_eq!(visible_rows(19_990.0, 100.0, 20.0, 1_000), 999..1_000);
    assert_eq!(visible_rows(0.0, 100.0, 20.0, 0), 0..0);
    assert_eq!(visible_rows(0.0, 100_000.0, 20.0, 100_000).len(), 5_000, "never more than fit");
}

#[test]
fn the_anchor_row_stays_on_top_when_rows_are_inserted_above() {
    let mut rows = TableRows::new();
    for i in 0..100 {
        rows.upsert_quiet(&format!("k{i:03}"), vec![Cell::text(format!("{i}"))]);
    }
    let mut state = State::default();
    state.scroll_to(10.0 * 20.0 + 5.0, &rows, 20.0);
    assert_eq!(state.anchor.as_ref().map(|(k, w)| (k.as_str(), *w)), Some(("k010", 5.0)));
    for i in 0..7 {
        rows.upsert(&format!("a{i}"), vec![Cell::text("new")]);
    }
    assert_eq!(state.offset(&rows, 20.0), 17.0 * 20.0 + 5.0, "k010 is now 17th");
    rows.remove("k010");
    assert_eq!(state.offset(&rows, 20.0), 205.0, "a vanished anchor leaves the offset");
    let mut top = State::default();
    top.scroll_to(0.0, &rows, 20.0);
    rows.upsert("0000", vec![Cell::text("newest")]);
    assert_eq!(top.offset(&rows, 20.0), 0.0, "at the top, new rows show");
}

#[test]
fn rtl_tables_put_the_first_column_on_the_right() {
    let geometry = Geometry {
        widths: vec![100.0, 50.0],
        body: Rectangle::new(Point::ORIGIN, Size::new(158.0, 100.0)),
        offset: 0.0,
        max: 0.0,
        rtl: true,
    };
    let row = Rectangle::new(Point::new(10.0, 0.0), Size::new(150.0, 28.0));
    let cells: Vec<_> = geometry.cells(row).map(|c| (c.x, c.width)).collect();
    assert_eq!(cells, [(60.0, 100.0), (10.0, 50.0)]);
    assert_eq!(geometry.column_at(65.0, 10.0), Some(0));
    assert_eq!(geometry.column_at(20.0, 10.0), Some(1));
    assert_eq!(geometry.column_at(165.0, 10.0), None);
    let slots: Vec<_> =
        action_slots(Rectangle::new(Point::ORIGIN, Size::new(216.0, 28.0)), 3, 8.0, true).collect();
    assert!(slots.windows(2).all(|w| w[0].x > w[1].x + w[1].width), "the first action is the rightmost");
}

#[test]
fn action_slots_split_the_cell() {
    let slots: Vec<_> =
        action_slots(Rectangle::new(Point::ORIGIN, Size::new(216.0, 28.0)), 3, 8.0, false).collect();
    assert_eq!(slots.len(), 3);
    assert!(slots.windows(2).all(|w| w[0].x + w[0].width < w[1].x), "no overlap");
    assert!(slots.iter().all(|s| s.width > 60.0 && s.height > 20.0));
}
