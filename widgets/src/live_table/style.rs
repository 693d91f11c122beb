//! The look of a [`LiveTable`](super::LiveTable): its colours, from the theme's palette by
//! default, through iced's `Catalog` pattern.

use iced_core::{Color, Theme};

/// The appearance of a [`LiveTable`](super::LiveTable).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// Behind everything.
    pub background: Color,
    /// Behind the header.
    pub header_background: Color,
    /// Header text.
    pub header_text: Color,
    /// Cell text.
    pub text: Color,
    /// Every other row.
    pub stripe: Color,
    /// The selected row.
    pub selected: Color,
    /// A row that just changed (fades out).
    pub highlight: Color,
    /// Lines between the header and rows.
    pub rule: Color,
    /// Action buttons.
    pub action: Color,
    /// Action button labels.
    pub action_text: Color,
    /// Disabled action buttons' labels.
    pub action_disabled: Color,
    /// Behind a disabled action's label.
    pub action_disabled_background: Color,
    /// The scrollbar's thumb.
    pub scroller: Color,
}

/// The theme catalog of a [`LiveTable`](super::LiveTable).
pub trait Catalog {
    /// The item class of the catalog.
    type Class<'a>;

    /// The default class.
    fn default<'a>() -> Self::Class<'a>;

    /// The style of a class.
    fn style(&self, class: &Self::Class<'_>) -> Style;
}

/// A styling function for a [`LiveTable`](super::LiveTable).
pub type StyleFn<'a, Theme> = Box<dyn Fn(&Theme) -> Style + 'a>;

impl Catalog for Theme {
    type Class<'a> = StyleFn<'a, Self>;

    fn default<'a>() -> Self::Class<'a> {
        Box::new(default)
    }

    fn style(&self, class: &Self::Class<'_>) -> Style {
        class(self)
    }
}

/// The default style, from the theme's palette.
pub fn default(theme: &Theme) -> Style {
    let palette = theme.extended_palette();
    Style {
        background: palette.background.base.color,
        header_background: palette.background.weak.color,
        header_text: palette.background.weak.text,
        text: palette.background.base.text,
        stripe: palette.background.weakest.color,
        selected: palette.primary.weak.color,
        highlight: palette.success.weak.color,
        rule: palette.background.strong.color,
        action: palette.primary.base.color,
        action_text: palette.primary.base.text,
        action_disabled: Color { a: 0.6, ..palette.background.weak.text },
        action_disabled_background: palette.background.weak.color,
        scroller: palette.background.strong.color,
    }
}
