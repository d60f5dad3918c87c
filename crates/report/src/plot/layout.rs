//! A small text layout that keeps labels apart: every placed label, marker, legend and arrow is
//! an obstacle; a new label takes the first of its candidate positions that stays inside the plot
//! and touches no obstacle (or is dropped).

/// An axis-aligned rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub fn new(x: f64, y: f64, w: f64, h: f64) -> Self {
        Self { x0: x, y0: y, x1: x + w, y1: y + h }
    }

    /// The square around a point.
    pub fn around(x: f64, y: f64, r: f64) -> Self {
        Self { x0: x - r, y0: y - r, x1: x + r, y1: y + r }
    }

    pub fn grow(&self, by: f64) -> Self {
        Self { x0: self.x0 - by, y0: self.y0 - by, x1: self.x1 + by, y1: self.y1 + by }
    }

    pub fn intersects(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    pub fn contains(&self, o: &Rect) -> bool {
        o.x0 >= self.x0 && o.x1 <= self.x1 && o.y0 >= self.y0 && o.y1 <= self.y1
    }

    /// Whether the segment from `a` to `b` passes through this rectangle.
    pub fn crosses(&self, a: (f64, f64), b: (f64, f64)) -> bool {
        // Liang-Barsky clipping.
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let mut t0: f64 = 0.0;
        let mut t1: f64 = 1.0;
        for (p, q) in [(-dx, a.0 - self.x0), (dx, self.x1 - a.0), (-dy, a.1 - self.y0), (dy, self.y1 - a.1)] {
            if p == 0.0 {
                if q < 0.0 {
                    return false;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
                if t0 > t1 {
                    return false;
                }
            }
        }
        true
    }
}

/// Where labels may go and what they must avoid.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    bounds: Rect,
    boxes: Vec<Rect>,
    /// Lines labels should avoid if they can (series lines), and must avoid (arrows).
    soft_lines: Vec<((f64, f64), (f64, f64))>,
    hard_lines: Vec<((f64, f64), (f64, f64))>,
}

impl Layout {
    pub fn new(bounds: Rect) -> Self {
        Self { bounds, boxes: Vec::new(), soft_lines: Vec::new(), hard_lines: Vec::new() }
    }

    /// Marks `r` as taken.
    pub fn block(&mut self, r: Rect) {
        self.boxes.push(r);
    }

    /// A line labels avoid when they can.
    pub fn soft_line(&mut self, a: (f64, f64), b: (f64, f64)) {
        self.soft_lines.push((a, b));
    }

    /// A line labels must not cross.
    pub fn hard_line(&mut self, a: (f64, f64), b: (f64, f64)) {
        self.hard_lines.push((a, b));
    }

    fn free(&self, r: &Rect, strict: bool) -> bool {
        let padded = r.grow(1.0);
        self.bounds.contains(r)
            && !self.boxes.iter().any(|b| b.intersects(&padded))
            && !self.hard_lines.iter().any(|(a, b)| padded.crosses(*a, *b))
            && (!strict || !self.soft_lines.iter().any(|(a, b)| padded.crosses(*a, *b)))
    }

    /// Whether `r` is free of everything (used to choose a corner for the legend).
    pub fn is_free(&self, r: &Rect) -> bool {
        self.free(r, true)
    }

    /// How many obstacles `r` touches.
    pub fn conflicts(&self, r: &Rect) -> usize {
        self.boxes.iter().filter(|b| b.intersects(r)).count()
            + self.soft_lines.iter().chain(&self.hard_lines).filter(|(a, b)| r.crosses(*a, *b)).count()
    }

    /// Takes the first candidate that touches nothing (preferring ones that also avoid series
    /// lines) and marks it taken; `None` when every candidate collides.
    pub fn place(&mut self, candidates: &[Rect]) -> Option<Rect> {
        let found = candidates
            .iter()
            .find(|r| self.free(r, true))
            .or_else(|| candidates.iter().find(|r| self.free(r, false)))
            .copied()?;
        self.boxes.push(found);
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_do_not_overlap() {
        let mut layout = Layout::new(Rect::new(0.0, 0.0, 100.0, 100.0));
        let a = layout.place(&[Rect::new(10.0, 10.0, 20.0, 10.0)]);
        assert!(a.is_some());
        let b = layout.place(&[Rect::new(15.0, 12.0, 20.0, 10.0), Rect::new(40.0, 10.0, 20.0, 10.0)]);
        assert_eq!(b, Some(Rect::new(40.0, 10.0, 20.0, 10.0)));
        assert_eq!(layout.place(&[Rect::new(95.0, 95.0, 20.0, 10.0)]), None);
    }

    #[test]
    fn segments_cross_rectangles() {
        let r = Rect::new(10.0, 10.0, 10.0, 10.0);
        assert!(r.crosses((0.0, 0.0), (30.0, 30.0)));
        assert!(!r.crosses((0.0, 30.0), (5.0, 0.0)));
        assert!(r.crosses((15.0, 0.0), (15.0, 12.0)));
    }
}
