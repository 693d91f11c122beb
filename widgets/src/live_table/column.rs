//! The columns of a [`LiveTable`](super::LiveTable) and how they share its width: fixed widths
//! and portions of what is left while there is room; when there is not, every column shrinks
//! towards its minimum, so that none falls off the table's edge.

use iced_core::Length;

/// The narrowest a `Fill` column gets without its own [`Column::min_width`].
pub const FILL_MIN: f32 = 60.0;

/// A column of a [`LiveTable`](super::LiveTable).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub(super) title: String,
    pub(super) width: Length,
    pub(super) min_width: Option<f32>,
    pub(super) align_right: bool,
    pub(super) sortable: bool,
}

impl Column {
    /// A column with this title, sharing the free width with the other `Fill` columns.
    pub fn new(title: impl Into<String>) -> Self {
        Column {
            title: title.into(),
            width: Length::Fill,
            min_width: None,
            align_right: false,
            sortable: true,
        }
    }

    /// Whether a click on its header sorts the table by it (yes by default; a column of actions
    /// is not).
    pub fn sortable(mut self, sortable: bool) -> Self {
        self.sortable = sortable;
        self
    }

    /// Its width: pixels, `Fill`, or `FillPortion(n)`.
    pub fn width(mut self, width: impl Into<Length>) -> Self {
        self.width = width.into();
        self
    }

    /// The narrowest it gets when the table is too narrow for every column's width (by
    /// default three fifths of a fixed width, [`FILL_MIN`] for a `Fill` column).
    pub fn min_width(mut self, min: f32) -> Self {
        self.min_width = Some(min.max(0.0));
        self
    }

    /// The narrowest it gets: see [`Column::min_width`].
    fn min(&self) -> f32 {
        match (self.min_width, self.width) {
            (Some(min), Length::Fixed(w)) => min.min(w),
            (Some(min), _) => min,
            (None, Length::Fixed(w)) => w * 0.6,
            (None, _) => FILL_MIN,
        }
    }

    /// Aligns its cells to the end: the right, or the left in a right-to-left table (numbers).
    pub fn align_right(mut self) -> Self {
        self.align_right = true;
        self
    }
}

/// The widths of the columns in `total` pixels: fixed ones first, the rest shared by portion.
/// When that leaves a `Fill` column less than its minimum, every column gets its minimum and
/// the fixed ones share what is left in proportion to how much they can shrink; when even the
/// minimums do not fit, all of them shrink alike. The widths never add up to more than `total`.
pub fn column_widths(columns: &[Column], total: f32) -> Vec<f32> {
    let total = total.max(0.0);
    let fixed: f32 = columns.iter().filter_map(|c| fixed_width(c.width)).sum();
    let portions: u16 = columns.iter().map(|c| c.width.fill_factor()).sum();
    let fill_min: f32 = columns.iter().filter(|c| fixed_width(c.width).is_none()).map(Column::min).sum();
    if fixed + fill_min <= total {
        let free = total - fixed;
        return columns
            .iter()
            .map(|c| match fixed_width(c.width) {
                Some(w) => w,
                None if portions > 0 => free * f32::from(c.width.fill_factor()) / f32::from(portions),
                None => 0.0,
            })
            .collect();
    }
    let mins: Vec<f32> = columns.iter().map(Column::min).collect();
    let min_sum: f32 = mins.iter().sum();
    if min_sum >= total {
        let scale = if min_sum > 0.0 { total / min_sum } else { 0.0 };
        return mins.iter().map(|m| m * scale).collect();
    }
    // Every column at its minimum, and what is left to the fixed ones, by how much they shrank.
    let left = total - min_sum;
    let shrinkable: f32 =
        columns.iter().zip(&mins).filter_map(|(c, m)| fixed_width(c.width).map(|w| w - m)).sum();
    columns
        .iter()
        .zip(&mins)
        .map(|(c, m)| match fixed_width(c.width) {
            Some(w) if shrinkable > 0.0 => m + left * (w - m) / shrinkable,
            _ => *m,
        })
        .collect()
}

fn fixed_width(width: Length) -> Option<f32> {
    match width {
        Length::Fixed(w) => Some(w),
        _ => None,
    }
}
