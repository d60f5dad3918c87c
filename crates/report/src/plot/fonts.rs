//! The embedded font (DejaVu Sans, Bitstream Vera licence: see `assets/DejaVu-LICENSE.txt`),
//! registered once with plotters so no system font or fontconfig is needed.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};

/// The family name the plots use; SVG files name it too, so viewers fall back to their own
/// sans-serif font.
pub(crate) const FAMILY: &str = "sans-serif";

static REGULAR: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/DejaVuSans-Bold.ttf");

/// Registers the embedded fonts (once per process).
pub(crate) fn ensure_registered() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, REGULAR)
                .map_err(|_| "DejaVuSans.ttf is not a valid font".to_string())?;
            register_font(FAMILY, FontStyle::Bold, BOLD)
                .map_err(|_| "DejaVuSans-Bold.ttf is not a valid font".to_string())
        })
        .clone()
        .map_err(Error::Font)
}
