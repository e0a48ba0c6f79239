//! [`Model`] (immutable weights + the plan of each layer + the chosen kernel set) and
//! [`State`] (one stream's recurrent state and scratch, in one aligned buffer).

use crate::isa::Isa;
use crate::Error;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use recur_format::{
    blocks, expected_tensors, padded, Activation, CellKind, DenseDesc, LayerDesc, ModelDesc, PackedModel,
    RecurrentDesc, TensorKind, TensorSpec, ALIGN, PANEL,
};

/// 64 bytes, 64-byte aligned: the unit of every buffer the kernels read.
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub(crate) struct Line(pub [f32; 16]);

/// Where a model's packed weights live.
pub(crate) enum Backing {
    /// Owned, 64-byte aligned.
    Owned(Vec<Line>, usize),
    /// A borrowed static slice (checked 64-byte aligned).
    Static(&'static [u8]),
    /// A read-only memory map.
    #[cfg(feature = "std")]
    Mmap(memmap2::Mmap),
}

impl Backing {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Backing::Owned(v, len) => &bytemuck::cast_slice(v)[..*len],
            Backing::Static(s) => s,
            #[cfg(feature = "std")]
            Backing::Mmap(m) => m,
        }
    }
    /// Copies bytes into fresh aligned memory.
    pub(crate) fn copy_aligned(bytes: &[u8]) -> Backing {
        let mut v = vec![Line::default(); bytes.len().div_ceil(ALIGN)];
        bytemuck::cast_slice_mut::<Line, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
        Backing::Owned(v, bytes.len())
    }
}

/// One direction of a recurrent layer: where its tensors start (in `f32` elements from
/// the weights' base) and where its state lives (in `f32` elements from the state's base).
#[derive(Clone, Debug)]
pub(crate) struct DirPlan {
    pub w: usize,
    pub r: usize,
    pub b: usize,
    pub p: Option<usize>,
    /// Row scales of int8 W and R.
    pub ws: Option<usize>,
    pub rs: Option<usize>,
    pub h: usize,
    pub c: Option<usize>,
    pub reverse: bool,
    pub acts: [Activation; 3],
}

#[derive(Clone, Debug)]
pub(crate) struct RecPlan {
    pub desc: RecurrentDesc,
    /// The weights' dtype code (`cell::dt`).
    pub dt: u8,
    pub nb: usize,
    pub dirs: Vec<DirPlan>,
}

#[derive(Clone, Debug)]
pub(crate) struct DensePlan {
    pub desc: DenseDesc,
    /// The weights' dtype code (`cell::dt`).
    pub dt: u8,
    pub nb: usize,
    pub w: usize,
    pub ws: Option<usize>,
    pub b: usize,
}

#[derive(Clone, Debug)]
pub(crate) enum Plan {
    Rec(RecPlan),
    Dense(DensePlan),
}

/// Offsets (in `f32`) of the scratch areas in a state buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scratch {
    pub hnew: usize,
    pub z: usize,
    pub rh: usize,
    pub nx: usize,
    pub buf: [usize; 2],
    /// Quantized (w8a8) layer input, state and GRU `r ⊙ h`: int8 areas inside the f32
    /// buffer, each holding the widest vector padded to a multiple of 4 bytes.
    pub qx: usize,
    pub qh: usize,
    pub qrh: usize,
    /// Their three (scale, sum) pairs.
    pub qm: usize,
}

/// How to open a `.recur` file.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Verify the whole-file and per-tensor checksums (default `true`). Skipping them
    /// makes opening touch no weight page before the first step: for trusted files only.
    pub verify_checksums: bool,
    /// Force a kernel set (default: [`Isa::select`], which honours `RECUR_ISA`).
    pub isa: Option<Isa>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { verify_checksums: true, isa: None }
    }
}

static NEXT_MODEL_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Inner {
    pub desc: ModelDesc,
    pub interface: recur_format::GraphInterface,
    pub backing: Arc<Backing>,
    pub plans: Vec<Plan>,
    pub isa: Isa,
    pub scratch: Scratch,
    /// Floats in a state buffer.
    pub state_len: usize,
    /// Floats of recurrent state (h and c of every slot, unpadded) in a saved state.
    pub saved_floats: usize,
    /// Identifies this model instance (states must come from it).
    pub id: u64,
    /// Identifies the weights' content (saved states carry it).
    pub fingerprint: u64,
    pub streamable_error: Option<(usize, &'static str)>,
    /// Multiply-adds per frame of one stream (decides whether `step_many` forks).
    pub macs_per_frame: usize,
}

/// A loaded model: immutable, `Send + Sync`, cheap to clone (shared), one per process is
/// enough for any number of streams and threads.
#[derive(Clone)]
pub struct Model {
    pub(crate) inner: Arc<Inner>,
}

impl core::fmt::Debug for Model {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model").field("desc", &self.inner.desc).field("isa", &self.inner.isa).finish()
    }
}

impl Model {
    /// Builds a model from packed weights (copied once into aligned memory), with the
    /// kernel set chosen by [`Isa::select`].
    pub fn from_packed(packed: &PackedModel) -> Result<Model, Error> {
        Self::from_packed_with_isa(packed, Isa::select()?)
    }

    /// Same as [`Model::from_packed`] with an explicit kernel set.
    pub fn from_packed_with_isa(packed: &PackedModel, isa: Isa) -> Result<Model, Error> {
        packed.desc.validate()?;
        let (offsets, total) = packed.data_layout();
        let mut bytes = vec![0u8; total];
        for (t, &o) in packed.tensors.iter().zip(&offsets) {
            bytes[o..o + t.bytes.len()].copy_from_slice(&t.bytes);
        }
        let table: Vec<(TensorSpec, usize)> = packed.tensors.iter().map(|t| t.spec).zip(offsets).collect();
        let fingerprint = xxhash_fingerprint(&bytes);
        Self::build(packed.desc.clone(), Backing::copy_aligned(&bytes), &table, fingerprint, isa)
    }

    /// Assembles a model over `backing` whose tensors are at `table` (byte offsets).
    pub(crate) fn build(
        desc: ModelDesc,
        backing: Backing,
        table: &[(TensorSpec, usize)],
        fingerprint: u64,
        isa: Isa,
    ) -> Result<Model, Error> {
        desc.validate()?;
        if !isa.is_available() {
            return Err(Error::IsaUnavailable { requested: isa.name(), available: alloc::string::String::new() });
        }
        let bytes = backing.bytes();
        if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(Error::Tensor { layer: 0, tensor: "*", what: "weight data is not 64-byte aligned".into() });
        }
        let mut plans = Vec::with_capacity(desc.layers.len());
        let mut state_len = 0usize;
        let mut saved_floats = 0usize;
        let mut max_hp = 0usize;
        let mut max_width = padded(desc.input_size());
        let mut streamable_error = None;
        let mut alloc_state = |n: usize| {
            let at = state_len;
            state_len += padded(n);
            at
        };
        for (li, layer) in desc.layers.iter().enumerate() {
            let specs = expected_tensors(li, layer);
            let find = |dir: usize, kind: TensorKind| -> Result<Option<usize>, Error> {
                let Some(spec) = specs.iter().find(|s| s.id.dir as usize == dir && s.id.kind == kind) else {
                    return Ok(None);
                };
                let Some((got, off)) = table.iter().find(|(s, _)| s.id == spec.id) else {
                    return Err(Error::Tensor { layer: li, tensor: kind.name(), what: "missing".into() });
                };
                if got != spec {
                    return Err(Error::Tensor {
                        layer: li,
                        tensor: kind.name(),
                        what: alloc::format!("is {got:?}, expected {spec:?}"),
                    });
                }
                let end = off.checked_add(spec.bytes());
                if off % ALIGN != 0 || end.is_none_or(|e| e > bytes.len()) {
                    return Err(Error::Tensor {
                        layer: li,
                        tensor: kind.name(),
                        what: alloc::format!("offset {off} is misaligned or out of bounds"),
                    });
                }
                Ok(Some(off / 4))
            };
            let need = |dir, kind| -> Result<usize, Error> {
                find(dir, kind)?.ok_or(Error::Tensor { layer: li, tensor: kind.name(), what: "missing".into() })
            };
            max_width = max_width.max(padded(layer.output_size()));
            match layer {
                LayerDesc::Recurrent(r) => {
                    let hp = padded(r.hidden_size);
                    max_hp = max_hp.max(hp);
                    if r.direction != recur_format::Direction::Forward && streamable_error.is_none() {
                        let d =
                            if r.direction == recur_format::Direction::Reverse { "reverse" } else { "bidirectional" };
                        streamable_error = Some((li, d));
                    }
                    let mut dirs = Vec::new();
                    for d in 0..r.direction.count() {
                        let h = alloc_state(hp);
                        saved_floats += r.hidden_size;
                        let c = if r.cell == CellKind::Lstm {
                            saved_floats += r.hidden_size;
                            Some(alloc_state(hp))
                        } else {
                            None
                        };
                        dirs.push(DirPlan {
                            w: need(d, TensorKind::W)?,
                            r: need(d, TensorKind::R)?,
                            b: need(d, TensorKind::B)?,
                            p: if r.peepholes { Some(need(d, TensorKind::P)?) } else { None },
                            ws: if r.dtype.is_int8() { Some(need(d, TensorKind::WScale)?) } else { None },
                            rs: if r.dtype.is_int8() { Some(need(d, TensorKind::RScale)?) } else { None },
                            h,
                            c,
                            reverse: r.direction.is_reverse(d),
                            acts: r.activations[d],
                        });
                    }
                    plans.push(Plan::Rec(RecPlan {
                        desc: r.clone(),
                        dt: r.dtype as u8,
                        nb: blocks(r.hidden_size),
                        dirs,
                    }));
                }
                LayerDesc::Dense(dn) => {
                    plans.push(Plan::Dense(DensePlan {
                        desc: dn.clone(),
                        dt: dn.dtype as u8,
                        nb: blocks(dn.output_size),
                        w: need(0, TensorKind::W)?,
                        ws: if dn.dtype.is_int8() { Some(need(0, TensorKind::WScale)?) } else { None },
                        b: need(0, TensorKind::B)?,
                    }));
                }
            }
        }
        let scratch = Scratch {
            hnew: alloc_state(max_hp),
            z: alloc_state(max_hp),
            rh: alloc_state(max_hp),
            nx: alloc_state(max_hp),
            buf: [alloc_state(max_width), alloc_state(max_width)],
            // int8 areas: `n` bytes take n / 4 floats (rounded up to a panel by alloc_state).
            qx: alloc_state(max_width.div_ceil(4)),
            qh: alloc_state(max_hp.div_ceil(4)),
            qrh: alloc_state(max_hp.div_ceil(4)),
            qm: alloc_state(6),
        };
        // Every area starts on a panel boundary (64 bytes).
        debug_assert!(state_len.is_multiple_of(PANEL));
        Ok(Model {
            inner: Arc::new(Inner {
                macs_per_frame: desc.parameter_count(),
                desc,
                interface: recur_format::GraphInterface::default(),
                plans,
                isa,
                scratch,
                state_len,
                saved_floats,
                id: NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed),
                fingerprint,
                streamable_error,
                backing: Arc::new(backing),
            }),
        })
    }

    /// Opens a `.recur` file by memory-mapping it read-only (checksums verified; see
    /// [`OpenOptions`] to skip them for trusted files). Opening costs a header parse and,
    /// with checksums, one read of the file; no weight is copied.
    ///
    /// The file must not be modified or truncated while the model is alive: the weights
    /// are read straight from the mapping (recur's own writer replaces files by renaming
    /// a new file over them, which leaves an existing mapping intact).
    #[cfg(feature = "std")]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Model, Error> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// [`Model::open`] with options.
    #[cfg(feature = "std")]
    pub fn open_with(path: impl AsRef<std::path::Path>, opts: &OpenOptions) -> Result<Model, Error> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::Io(alloc::format!("{}: {e}", path.display())))?;
        // SAFETY: the map is read-only and private to this process; the documented
        // contract of `open` is that the file is not modified while mapped (truncating
        // it would turn reads into SIGBUS, which no safe API can prevent).
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::Io(alloc::format!("{}: mmap: {e}", path.display())))?;
        Self::from_backing(Backing::Mmap(map), opts)
    }

    /// Loads a `.recur` file from bytes, copying them once into aligned memory (so any
    /// buffer works, aligned or not).
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, Error> {
        Self::from_bytes_with(bytes, &OpenOptions::default())
    }

    /// [`Model::from_bytes`] with options.
    pub fn from_bytes_with(bytes: &[u8], opts: &OpenOptions) -> Result<Model, Error> {
        Self::from_backing(Backing::copy_aligned(bytes), opts)
    }

    /// Runs a `.recur` file in place from a static buffer (firmware, `include_bytes!`),
    /// without copying. The buffer must start on a 64-byte boundary; an unaligned one is
    /// refused with [`Error::Unaligned`] (use [`Model::from_bytes`] to copy it instead).
    pub fn from_static(bytes: &'static [u8], opts: &OpenOptions) -> Result<Model, Error> {
        if !recur_format::file::is_aligned(bytes) {
            return Err(Error::Unaligned(bytes.as_ptr() as usize % ALIGN));
        }
        Self::from_backing(Backing::Static(bytes), opts)
    }

    fn from_backing(backing: Backing, opts: &OpenOptions) -> Result<Model, Error> {
        let parsed = recur_format::file::parse(
            backing.bytes(),
            recur_format::ParseOptions { verify_checksums: opts.verify_checksums },
        )?;
        let desc = parsed.desc().clone();
        let interface = parsed.interface().clone();
        let table: Vec<(TensorSpec, usize)> = parsed.tensors().iter().map(|t| (t.spec, t.offset)).collect();
        let fingerprint = parsed.file_checksum();
        let isa = match opts.isa {
            Some(i) => i,
            None => Isa::select()?,
        };
        drop(parsed);
        let mut m = Self::build(desc, backing, &table, fingerprint, isa)?;
        if let Some(inner) = Arc::get_mut(&mut m.inner) {
            inner.interface = interface;
        }
        Ok(m)
    }

    /// The ONNX graph interface recorded in the file (empty for models built in memory).
    pub fn interface(&self) -> &recur_format::GraphInterface {
        &self.inner.interface
    }

    /// The model description.
    pub fn desc(&self) -> &ModelDesc {
        &self.inner.desc
    }
    /// The kernel set this model runs.
    pub fn isa(&self) -> Isa {
        self.inner.isa
    }
    /// The same weights with another kernel set (shares the weights; an error if the
    /// CPU lacks it).
    pub fn with_isa(&self, isa: Isa) -> Result<Model, Error> {
        if !isa.is_available() {
            return Isa::forced(isa.name()).map(|_| unreachable!());
        }
        let inner = Inner {
            desc: self.inner.desc.clone(),
            interface: self.inner.interface.clone(),
            backing: self.inner.backing.clone(),
            plans: self.inner.plans.clone(),
            isa,
            scratch: self.inner.scratch,
            state_len: self.inner.state_len,
            saved_floats: self.inner.saved_floats,
            id: NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed),
            fingerprint: self.inner.fingerprint,
            streamable_error: self.inner.streamable_error,
            macs_per_frame: self.inner.macs_per_frame,
        };
        Ok(Model { inner: Arc::new(inner) })
    }
    /// Floats per frame in.
    pub fn input_size(&self) -> usize {
        self.inner.desc.input_size()
    }
    /// Floats per frame out.
    pub fn output_size(&self) -> usize {
        self.inner.desc.output_size()
    }
    /// Whether [`Model::step`] is available (every recurrent layer runs forward).
    pub fn is_streamable(&self) -> bool {
        self.inner.streamable_error.is_none()
    }
    /// A content fingerprint of the weights (carried by saved states).
    pub fn fingerprint(&self) -> u64 {
        self.inner.fingerprint
    }
    /// Bytes of packed weights the model reads per step (every tensor once).
    pub fn weight_bytes(&self) -> usize {
        self.inner.backing.bytes().len()
    }
    /// A fresh state (zero initial states).
    pub fn new_state(&self) -> State {
        State {
            buf: vec![Line::default(); self.inner.state_len / PANEL].into_boxed_slice(),
            model_id: self.inner.id,
            fingerprint: self.inner.fingerprint,
        }
    }
    /// Bytes of a saved state ([`State::save`]).
    pub fn saved_state_size(&self) -> usize {
        SAVED_HEADER + 4 * self.inner.saved_floats
    }

    pub(crate) fn check_state(&self, state: &State) -> Result<(), Error> {
        if state.model_id != self.inner.id
            && (state.fingerprint != self.inner.fingerprint || state.buf.len() * PANEL != self.inner.state_len)
        {
            return Err(Error::ForeignState);
        }
        Ok(())
    }

    /// Slot (layer, direction) → (h offset, c offset, hidden size).
    fn slot(&self, layer: usize, dir: usize) -> Result<(usize, Option<usize>, usize), Error> {
        match self.inner.plans.get(layer) {
            Some(Plan::Rec(r)) => match r.dirs.get(dir) {
                Some(d) => Ok((d.h, d.c, r.desc.hidden_size)),
                None => Err(Error::NoSuchSlot { layer, dir, what: "the layer has fewer directions" }),
            },
            Some(Plan::Dense(_)) => Err(Error::NoSuchSlot { layer, dir, what: "a dense layer has no state" }),
            None => Err(Error::NoSuchSlot { layer, dir, what: "no such layer" }),
        }
    }

    /// Reads the hidden state (`c = false`) or cell state (`c = true`) of a slot.
    pub fn get_state(&self, state: &State, layer: usize, dir: usize, c: bool) -> Result<Vec<f32>, Error> {
        self.check_state(state)?;
        let (h, co, n) = self.slot(layer, dir)?;
        let off =
            if c { co.ok_or(Error::NoSuchSlot { layer, dir, what: "only LSTM layers have a cell state" })? } else { h };
        Ok(state.floats()[off..off + n].to_vec())
    }

    /// Sets the hidden state (`c = false`) or cell state (`c = true`) of a slot.
    pub fn set_state(&self, state: &mut State, layer: usize, dir: usize, c: bool, values: &[f32]) -> Result<(), Error> {
        self.check_state(state)?;
        let (h, co, n) = self.slot(layer, dir)?;
        let off =
            if c { co.ok_or(Error::NoSuchSlot { layer, dir, what: "only LSTM layers have a cell state" })? } else { h };
        if values.len() != n {
            return Err(Error::Length { what: "state values", got: values.len(), expected: n });
        }
        let f = state.floats_mut();
        f[off..off + n].copy_from_slice(values);
        f[off + n..off + padded(n)].fill(0.0);
        Ok(())
    }

    /// Writes the recurrent state into `out` (exactly [`Model::saved_state_size`] bytes):
    /// a header with the model's fingerprint, then every slot's h (and c), little-endian.
    pub fn save_state(&self, state: &State, out: &mut [u8]) -> Result<(), Error> {
        self.check_state(state)?;
        if out.len() != self.saved_state_size() {
            return Err(Error::Length {
                what: "saved state buffer",
                got: out.len(),
                expected: self.saved_state_size(),
            });
        }
        out[..4].copy_from_slice(SAVED_MAGIC);
        out[4..8].copy_from_slice(&(self.inner.saved_floats as u32).to_le_bytes());
        out[8..16].copy_from_slice(&self.inner.fingerprint.to_le_bytes());
        let mut at = SAVED_HEADER;
        let f = state.floats();
        self.for_each_slot(|off, n| {
            for v in &f[off..off + n] {
                out[at..at + 4].copy_from_slice(&v.to_le_bytes());
                at += 4;
            }
        });
        Ok(())
    }

    /// Restores a state written by [`Model::save_state`] of a model with the same weights.
    pub fn load_state(&self, state: &mut State, data: &[u8]) -> Result<(), Error> {
        self.check_state(state)?;
        if data.len() != self.saved_state_size() {
            return Err(Error::Length { what: "saved state", got: data.len(), expected: self.saved_state_size() });
        }
        if &data[..4] != SAVED_MAGIC {
            return Err(Error::BadSavedState("not a recur saved state (bad magic)"));
        }
        if u32::from_le_bytes(data[4..8].try_into().unwrap_or_default()) as usize != self.inner.saved_floats {
            return Err(Error::BadSavedState("state size differs from this model's"));
        }
        if u64::from_le_bytes(data[8..16].try_into().unwrap_or_default()) != self.inner.fingerprint {
            return Err(Error::BadSavedState("saved by a model with different weights"));
        }
        let mut vals = Vec::with_capacity(self.inner.saved_floats);
        for c in data[SAVED_HEADER..].chunks_exact(4) {
            vals.push(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        }
        let mut at = 0;
        state.buf.fill(Line::default());
        let f = state.floats_mut();
        self.for_each_slot(|off, n| {
            f[off..off + n].copy_from_slice(&vals[at..at + n]);
            at += n;
        });
        Ok(())
    }

    fn for_each_slot(&self, mut f: impl FnMut(usize, usize)) {
        for p in &self.inner.plans {
            if let Plan::Rec(r) = p {
                for d in &r.dirs {
                    f(d.h, r.desc.hidden_size);
                    if let Some(c) = d.c {
                        f(c, r.desc.hidden_size);
                    }
                }
            }
        }
    }

    /// Layers `range` of this model as a model of their own, for [`crate::graph`] (the
    /// recurrent layers run per frame, a dense head once per sequence): the same weights
    /// (shared, not copied), kernel set, fingerprint and state layout, so that a [`State`]
    /// of either model works with the other and the layers compute the same bits. `None`
    /// for an empty or out-of-range `range`.
    pub(crate) fn layer_range(&self, range: core::ops::Range<usize>) -> Option<Model> {
        let (desc, plans) = (self.inner.desc.layers.get(range.clone())?, self.inner.plans.get(range.clone())?);
        if desc.is_empty() {
            return None;
        }
        let desc = ModelDesc { layers: desc.to_vec() };
        let streamable_error = desc.layers.iter().enumerate().find_map(|(i, l)| match l {
            LayerDesc::Recurrent(r) if r.direction == recur_format::Direction::Reverse => Some((i, "reverse")),
            LayerDesc::Recurrent(r) if r.direction == recur_format::Direction::Bidirectional => {
                Some((i, "bidirectional"))
            }
            _ => None,
        });
        let saved_floats = plans
            .iter()
            .map(|p| match p {
                Plan::Rec(r) => r.dirs.iter().map(|d| r.desc.hidden_size * (1 + usize::from(d.c.is_some()))).sum(),
                Plan::Dense(_) => 0,
            })
            .sum();
        let inner = Inner {
            macs_per_frame: desc.parameter_count(),
            desc,
            interface: recur_format::GraphInterface::default(),
            backing: self.inner.backing.clone(),
            plans: plans.to_vec(),
            isa: self.inner.isa,
            scratch: self.inner.scratch,
            state_len: self.inner.state_len,
            saved_floats,
            id: NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed),
            fingerprint: self.inner.fingerprint,
            streamable_error,
        };
        Some(Model { inner: Arc::new(inner) })
    }
}

const SAVED_MAGIC: &[u8; 4] = b"RCS1";
const SAVED_HEADER: usize = 16;

/// A 64-bit content hash of packed weights (xxh3: fast enough to hash everything once).
pub(crate) fn xxhash_fingerprint(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// One stream's state: every recurrent layer's `h` (and `c`) plus the scratch a step
/// needs, in a single 64-byte aligned buffer. Made by [`Model::new_state`]; used only
/// with that model (or a clone of it).
#[derive(Clone)]
pub struct State {
    pub(crate) buf: Box<[Line]>,
    pub(crate) model_id: u64,
    pub(crate) fingerprint: u64,
}

impl core::fmt::Debug for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("State").field("floats", &(self.buf.len() * PANEL)).finish()
    }
}

impl State {
    /// Zeroes every state (back to the start of a stream).
    pub fn reset(&mut self) {
        self.buf.fill(Line::default());
    }
    pub(crate) fn floats(&self) -> &[f32] {
        bytemuck::cast_slice(&self.buf)
    }
    pub(crate) fn floats_mut(&mut self) -> &mut [f32] {
        bytemuck::cast_slice_mut(&mut self.buf)
    }
}

#[allow(unused)]
fn _assert_send_sync() {
    fn f<T: Send + Sync>() {}
    f::<Model>();
    f::<State>();
}
