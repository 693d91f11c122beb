//! Paragraphs shaped once per distinct text while a whole document is laid out.
//!
//! ```no_run
//! # fn lay_out_and_draw() -> Vec<u8> { Vec::new() }
//! // Every `bidi_text` laid out in here with a text and style seen before in here takes that
//! // paragraph instead of shaping its text again.
//! let recording = lucarne_widgets::reuse_paragraphs(lay_out_and_draw);
//! # let _ = recording;
//! ```
//!
//! A printed table says the same things many times (a status, a region, a customer's name in
//! every row), and shaping text is most of the work of laying a document out. While
//! [`reuse_paragraphs`] runs, a [`bidi_text`](crate::bidi_text()) whose text, bounds, size,
//! font, alignment and wrapping equal a paragraph already shaped on this thread shares that
//! paragraph. (Its bounds include the height left to it, so texts share across a whole
//! document when it is laid out with unbounded height, as `lucarne-pdf` does.) iced_graphics'
//! paragraph is copy-on-write: a widget that resizes a shared one copies it first. When the closure returns the paragraphs are let go: a live UI keeps each
//! paragraph in its widget tree already, and a document laid out again (the next export)
//! shapes afresh. `lucarne-pdf` records every view it exports in here.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

use iced_core::text::paragraph::Plain;
use iced_core::text::{Difference, Paragraph, Text};

/// The paragraphs shaped so far in the running [`reuse_paragraphs`], by paragraph type: a
/// `HashMap<String, Vec<Plain<P>>>` of paragraphs by their text.
type Shaped = HashMap<TypeId, Box<dyn Any>>;

thread_local! {
    static SHAPED: RefCell<Option<Shaped>> = const { RefCell::new(None) };
}

/// Runs `layout` with paragraphs shared between the `bidi_text`s it lays out that show the
/// same text the same way (see the [module](self)). A call inside another shares the outer
/// one's paragraphs.
pub fn reuse_paragraphs<T>(layout: impl FnOnce() -> T) -> T {
    /// Lets the paragraphs go when the outermost call ends, even by a panic.
    struct Outermost;
    impl Drop for Outermost {
        fn drop(&mut self) {
            let shaped = SHAPED.with(|s| s.borrow_mut().take());
            drop(shaped);
        }
    }
    let outermost = SHAPED.with(|s| {
        let mut s = s.borrow_mut();
        let fresh = s.is_none();
        if fresh {
            *s = Some(HashMap::new());
        }
        fresh
    });
    // Made only when outermost (not by `then_some`, which would make and drop one, clearing
    // the outer call's paragraphs).
    let _outermost = if outermost { Some(Outermost) } else { None };
    layout()
}

/// [`Plain::update`], taking an equal paragraph already shaped in the running
/// [`reuse_paragraphs`] (and offering this one to the next) instead of shaping it again.
pub(crate) fn update<P: Paragraph + Clone + 'static>(plain: &mut Plain<P>, text: Text<&str, P::Font>) {
    let same = |p: &Plain<P>| matches!(p.raw().compare(text.with_content(())), Difference::None);
    if plain.content() == text.content && same(plain) {
        return;
    }
    SHAPED.with(|shaped| {
        let mut shaped = shaped.borrow_mut();
        let by_text = shaped.as_mut().and_then(|shaped| {
            shaped
                .entry(TypeId::of::<P>())
                .or_insert_with(|| Box::new(HashMap::<String, Vec<Plain<P>>>::new()))
                .downcast_mut::<HashMap<String, Vec<Plain<P>>>>()
        });
        let Some(by_text) = by_text else {
            let _changed = plain.update(text);
            return;
        };
        match by_text.get(text.content).and_then(|shaped| shaped.iter().find(|p| same(p))) {
            Some(shaped) => plain.clone_from(shaped),
            None => {
                let _changed = plain.update(text);
                by_text.entry(text.content.to_owned()).or_default().push(plain.clone());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaping::Shaped;
    use iced_core::alignment::Vertical;
    use iced_core::text::{Alignment, LineHeight, Shaping, Wrapping};
    use iced_core::{Font, Pixels, Size};
    use iced_graphics::text::Paragraph as Shaper;

    fn text(content: &str, size: f32) -> Text<&str, Font> {
        Text {
            content,
            bounds: Size::new(400.0, 100.0),
            size: Pixels(size),
            line_height: LineHeight::default(),
            font: Font::default(),
            align_x: Alignment::Default,
            align_y: Vertical::Top,
            shaping: Shaping::Advanced,
            wrapping: Wrapping::Word,
        }
    }

    /// Lays out `first` then `second` into paragraphs of their own; returns whether they
    /// share one, after checking that the second reads as if shaped alone.
    fn check(reusing: bool, first: Text<&str, Font>, second: Text<&str, Font>) -> bool {
        let layout = || {
            let (mut a, mut b) = (Plain::<Shaper>::default(), Plain::<Shaper>::default());
            update(&mut a, first);
            update(&mut b, second);
            (a, b)
        };
        let (a, b) = if reusing { reuse_paragraphs(layout) } else { layout() };
        let alone = Plain::<Shaper>::new(second.with_content(second.content.to_owned()));
        assert_eq!(b.content(), second.content);
        assert_eq!(b.raw().lines(), alone.raw().lines(), "{:?} reads as shaped alone", second.content);
        assert_eq!(b.min_bounds(), alone.min_bounds());
        std::ptr::eq(a.raw().buffer(), b.raw().buffer())
    }

    #[test]
    fn the_same_text_shown_the_same_way_is_shaped_once_while_reusing() {
        assert!(check(true, text("paid", 13.0), text("paid", 13.0)));
        assert!(check(true, text("مريم العلي", 13.0), text("مريم العلي", 13.0)));
    }

    #[test]
    fn another_text_size_or_bounds_is_shaped_for_itself() {
        assert!(!check(true, text("paid", 13.0), text("placed", 13.0)));
        assert!(!check(true, text("paid", 13.0), text("paid", 14.0)));
        let narrow = Text { bounds: Size::new(20.0, 100.0), ..text("paid in full", 13.0) };
        assert!(!check(true, text("paid in full", 13.0), narrow));
    }

    #[test]
    fn nothing_is_shared_outside_or_between_reuses() {
        assert!(!check(false, text("paid", 13.0), text("paid", 13.0)));
        let mut first = Plain::<Shaper>::default();
        reuse_paragraphs(|| update(&mut first, text("shipped", 13.0)));
        let mut second = Plain::<Shaper>::default();
        reuse_paragraphs(|| update(&mut second, text("shipped", 13.0)));
        assert!(!std::ptr::eq(first.raw().buffer(), second.raw().buffer()));
        assert!(SHAPED.with(|s| s.borrow().is_none()), "the paragraphs are let go");
    }

    #[test]
    fn a_reuse_inside_another_shares_its_paragraphs_and_leaves_them_to_it() {
        reuse_paragraphs(|| {
            let mut a = Plain::<Shaper>::default();
            update(&mut a, text("cancelled", 13.0));
            let mut b = Plain::<Shaper>::default();
            reuse_paragraphs(|| update(&mut b, text("cancelled", 13.0)));
            assert!(std::ptr::eq(a.raw().buffer(), b.raw().buffer()), "the inner call shares the outer's");
            let mut c = Plain::<Shaper>::default();
            update(&mut c, text("cancelled", 13.0));
            assert!(std::ptr::eq(a.raw().buffer(), c.raw().buffer()), "the outer's are still there after it");
        });
        assert!(SHAPED.with(|s| s.borrow().is_none()), "the outermost lets them go");
    }

    #[test]
    fn bidi_texts_laid_out_while_reusing_shape_each_text_once() {
        use iced_runtime::user_interface::{Cache, UserInterface};
        type R = iced_tiny_skia::Renderer;
        let held = |content: &str| {
            SHAPED.with(|s| {
                let s = s.borrow();
                let by_text = s.as_ref()?.get(&TypeId::of::<Shaper>())?;
                let by_text = by_text.downcast_ref::<HashMap<String, Vec<Plain<Shaper>>>>()?;
                Some(by_text.get(content).map_or(0, Vec::len))
            })
        };
        let (paid, placed) = reuse_paragraphs(|| {
            let mut renderer = R::new(Font::default(), Pixels(13.0));
            let view: iced_core::Element<'_, (), iced_core::Theme, R> = iced_widget::column![
                crate::bidi_text("paid"),
                crate::bidi_text("placed"),
                crate::bidi_text("paid")
            ]
            .into();
            // Unbounded height, as a document is laid out: each text's bounds are then the same
            // wherever it is in the column.
            let ui =
                UserInterface::build(view, Size::new(400.0, f32::INFINITY), Cache::default(), &mut renderer);
            drop(ui);
            (held("paid"), held("placed"))
        });
        assert!(placed.is_some_and(|n| n > 0), "bidi_text lays out through the shared paragraphs");
        assert_eq!(paid, placed, "the second \"paid\" shaped nothing of its own");
    }

    #[test]
    fn a_panic_while_laying_out_lets_the_paragraphs_go() {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reuse_paragraphs(|| {
                let mut a = Plain::<Shaper>::default();
                update(&mut a, text("paid", 13.0));
                panic!("a widget panics");
            })
        }));
        assert!(caught.is_err());
        assert!(SHAPED.with(|s| s.borrow().is_none()));
    }

    #[test]
    fn a_shared_paragraph_resized_by_one_widget_stays_as_it_was_for_the_other() {
        let (a, mut b) = reuse_paragraphs(|| {
            let (mut a, mut b) = (Plain::<Shaper>::default(), Plain::<Shaper>::default());
            update(&mut a, text("paid in full by card", 13.0));
            update(&mut b, text("paid in full by card", 13.0));
            (a, b)
        });
        let wide = a.raw().lines();
        let _changed =
            b.update(Text { bounds: Size::new(30.0, 100.0), ..text("paid in full by card", 13.0) });
        assert!(b.raw().lines().len() > wide.len(), "the narrow one wraps");
        assert_eq!(a.raw().lines(), wide, "the other keeps its lines");
    }
}
