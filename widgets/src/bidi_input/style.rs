//! The look of a [`BidiInput`](super::BidiInput): its colours, per theme and focus.

use iced_core::{Border, Color, Theme};

/// The colours of a [`BidiInput`](super::BidiInput).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// Behind the text.
    pub background: Color,
    /// The frame.
    pub border: Border,
    /// The value.
    pub value: Color,
    /// The placeholder.
    pub placeholder: Color,
    /// The caret.
    pub caret: Color,
    /// Behind selected glyphs.
    pub selection: Color,
}

/// The theme catalog of a [`BidiInput`](super::BidiInput).
pub trait Catalog {
    /// The item class of the catalog.
    type Class<'a>;

    /// The default class.
    fn default<'a>() -> Self::Class<'a>;

    /// The style of a class, focused or not.
    fn style(&self, class: &Self::Class<'_>, focused: bool) -> Style;
}

/// A styling function for a [`BidiInput`](super::BidiInput).
pub type StyleFn<'a, Theme> = Box<dyn Fn(&Theme, bool) -> Style + 'a>;

impl Catalog for Theme {
    type Class<'a> = StyleFn<'a, Self>;

    fn default<'a>() -> Self::Class<'a> {
        Box::new(default)
    }

    fn style(&self, class: &Self::Class<'_>, focused: bool) -> Style {
        class(self, focused)
    }
}

/// The default style, from the theme's palette (like iced's text input).
pub fn default(theme: &Theme, focused: bool) -> Style {
    let palette = theme.extended_palette();
    Style {
        background: palette.background.base.color,
        border: Border {
            radius: 2.0.into(),
            width: 1.0,
            color: if focused { palette.primary.strong.color } else { palette.background.strong.color },
        },
        value: palette.background.base.text,
        placeholder: palette.secondary.base.color,
        caret: palette.primary.strong.color,
        selection: palette.primary.weak.color,
    }
}
