//! Which kernel set runs: detection, the `RECUR_ISA` override, and the guard that proves
//! a forced kernel set actually ran.
//!
//! The CPU's features are read once, when a model is built, and the chosen [`Isa`] is
//! stored in the model: a step does one `match` on it and then runs code monomorphized
//! for that ISA, with no detection and no indirect call per gate or element.

use core::sync::atomic::{AtomicBool, Ordering};

/// A kernel set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// The scalar reference (any CPU).
    Scalar,
    /// Portable SIMD through the `wide` crate (any CPU).
    Portable,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
    /// aarch64 NEON.
    Neon,
}

impl Isa {
    /// Every kernel set, in order of preference (best last).
    pub const ALL: [Isa; 5] = [Isa::Scalar, Isa::Portable, Isa::Neon, Isa::Avx2, Isa::Avx512];

    /// Name as accepted by `RECUR_ISA`.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Parses a name (case-insensitive).
    pub fn parse(s: &str) -> Option<Isa> {
        Isa::ALL.iter().copied().find(|i| i.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this build has the kernel set and this CPU can run it.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Portable => true,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => crate::kernels::aarch64::neon::Neon::new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => crate::kernels::x86_64::avx2::Avx2::new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => crate::kernels::x86_64::avx512::Avx512::new().is_some(),
            _ => false,
        }
    }

    /// The kernel sets this CPU can run, worst to best.
    pub fn available() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available())
    }

    /// The best kernel set for this CPU.
    pub fn best() -> Isa {
        let mut best = Isa::Scalar;
        for i in Isa::available() {
            best = i;
        }
        best
    }

    /// The kernel set to use: `RECUR_ISA` if set (an error if unknown or unavailable),
    /// else [`Isa::best`].
    pub fn select() -> Result<Isa, crate::Error> {
        #[cfg(feature = "std")]
        if let Ok(v) = std::env::var("RECUR_ISA") {
            if !v.trim().is_empty() {
                return Isa::forced(&v);
            }
        }
        Ok(Isa::best())
    }

    /// The named kernel set, if known and available here.
    pub fn forced(name: &str) -> Result<Isa, crate::Error> {
        let isa = Isa::parse(name).ok_or_else(|| crate::Error::UnknownIsa(name.into()))?;
        if !isa.is_available() {
            return Err(crate::Error::IsaUnavailable { requested: isa.name(), available: available_names() });
        }
        Ok(isa)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

fn available_names() -> alloc::string::String {
    let mut s = alloc::string::String::new();
    for i in Isa::available() {
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(i.name());
    }
    s
}

static RAN: [AtomicBool; 5] = [const { AtomicBool::new(false) }; 5];

/// Records that a kernel of `isa` ran. Loads first so that, once set, the flag's cache
/// line is only read and never bounces between cores.
#[inline(always)]
pub(crate) fn mark_ran(isa: Isa) {
    let f = &RAN[isa.index()];
    if !f.load(Ordering::Relaxed) {
        f.store(true, Ordering::Relaxed);
    }
}

/// Whether any kernel of `isa` has run in this process: the guard that makes a test run
/// with a forced `RECUR_ISA` fail if that kernel set was silently skipped.
pub fn has_run(isa: Isa) -> bool {
    RAN[isa.index()].load(Ordering::Relaxed)
}

/// The kernel set forced by `RECUR_ISA`, if any (for test guards).
#[cfg(feature = "std")]
pub fn forced_by_env() -> Option<Isa> {
    std::env::var("RECUR_ISA").ok().and_then(|v| Isa::parse(&v))
}
