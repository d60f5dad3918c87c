//! Text boxes that look the same in PNG and SVG: a label is measured with the embedded font, given
//! a box one font-size high, and drawn anchored at its baseline (the one anchor plotters' bitmap
//! and SVG backends agree on).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::Rect;
use super::{DrawResult, de};

/// A measured piece of text.
#[derive(Clone)]
pub(crate) struct Label {
    pub text: String,
    pub style: TextStyle<'static>,
    pub size: f64,
    pub width: f64,
    pub height: f64,
}

impl std::fmt::Debug for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Label")
            .field("text", &self.text)
            .field("size", &self.size)
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl Label {
    /// Measures `text` in `style` (of font size `size`).
    pub fn new<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        text: impl Into<String>,
        style: TextStyle<'static>,
        size: f64,
    ) -> DrawResult<Self> {
        let text = text.into();
        let (w, _) = root.estimate_text_size(&text, &style).map_err(de)?;
        Ok(Self { text, style, size, width: f64::from(w), height: size * 1.05 })
    }

    /// The box of this label with its top-left corner at (`x`, `y`), `pad` pixels around.
    pub fn rect_at(&self, x: f64, y: f64, pad: f64) -> Rect {
        Rect::new(x, y, self.width + 2.0 * pad, self.height + 2.0 * pad)
    }

    /// Draws the label inside `rect` (made by [`Label::rect_at`] with the same `pad`), on a white
    /// background of opacity `bg` (0 for none).
    pub fn draw_in<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        rect: Rect,
        pad: f64,
        bg: f64,
    ) -> DrawResult {
        if bg > 0.0 {
            root.draw(&Rectangle::new(
                [(rect.x0 as i32, rect.y0 as i32), (rect.x1 as i32, rect.y1 as i32)],
                WHITE.mix(bg).filled(),
            ))
            .map_err(de)?;
        }
        let baseline = rect.y0 + pad + self.size * 0.8;
        let anchor = ((rect.x0 + pad).round() as i32, (baseline + self.size * 0.28).round() as i32);
        root.draw(&Text::new(self.text.clone(), anchor, self.style.pos(Pos::new(HPos::Left, VPos::Bottom))))
            .map_err(de)
    }
}
