"""Checkpoints of a run's state inside its run file, and resuming from them.

A resumable experiment's loops (:func:`plasticity.engine.train`,
:func:`plasticity.spiking.runner.simulate_into`) save their whole state under
``/checkpoint`` of the run file every ``checkpoint_s`` seconds of wall time, at the end
of an update (or of a simulated segment), after the data recorded up to that point.

Resuming (``plasticity run NAME --resume FILE.h5``) runs the experiment again from the
start with the file's config and seed. Everything before the checkpointed loop is
recomputed (it is deterministic) while the recorder drops what it would write: those rows
are already in the file. The checkpointed loop then restores its state and the run goes
on, writing after the data of the checkpoint step (rows written after the checkpoint by
the stopped run have been cut). With the same seed the file ends bit-identical to an
uninterrupted run's.

Layout
------
``/checkpoint/slot0`` and ``/checkpoint/slot1`` are written alternately, each marked
``complete`` only once fully written, so that a run killed in the middle of a checkpoint
still has the previous one. A slot holds the state as a tree (``tree``: JSON in a uint8
dataset, arrays and NumPy scalars as datasets ``a<i>``), the step reached (attrs
``loop``, ``kind``, ``step``, ``seq``) and the length of every extendable dataset of the
file at that moment (``lengths``: JSON).

Arrays that the restoring code copies into arrays it already holds (a simulator's
weights: :func:`in_place`) are not read when the checkpoint is: they come back as
:class:`StoredArray`, read straight into their destination by ``read_into``, so that a
resumed run never holds a 10^8-synapse network's weights twice.
"""

from __future__ import annotations

import contextvars
import json
import time

import h5py
import numpy as np

from plasticity.errors import PlasticityError, RunFileError
from plasticity.io.interrupts import raise_if_terminated

# The checkpointer of the run being executed, so that the loops (engine.train) find it
# without every experiment passing it down; the experiment layer sets it around a run.
CHECKPOINTER: contextvars.ContextVar = contextvars.ContextVar("checkpointer", default=None)


def current_checkpointer():
    """The :class:`Checkpointer` of the run being executed in this thread, or None."""
    return CHECKPOINTER.get()

__all__ = ["CheckpointError", "Checkpointer", "InPlace", "StoredArray", "encode", "decode",
           "in_place", "read_checkpoint", "data_lengths", "truncate_to"]

_SLOTS = ("slot0", "slot1")


class CheckpointError(PlasticityError):
    """A state that cannot be saved, or a checkpoint that does not fit the run."""


# --------------------------------------------------------------------------- trees
class InPlace:
    """An array of a state tree that is restored by copying it into an array the
    restoring code already holds: :func:`read_checkpoint` hands it back unread, as a
    :class:`StoredArray`."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array


def in_place(tree):
    """``tree`` with every NumPy array (in dicts, lists and tuples) marked :class:`InPlace`."""
    if isinstance(tree, np.ndarray):
        return InPlace(tree)
    if isinstance(tree, dict):
        return {k: in_place(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(in_place(v) for v in tree)
    return tree


class StoredArray:
    """An array of a checkpoint, still in the run file: ``shape`` and ``dtype`` of the
    saved array, read by :meth:`read_into` (or ``np.asarray``) while the file is open.

    Parameters
    ----------
    dataset : h5py.Dataset
        The saved array (C order).
    order : {"C", "F"}
        The memory order it was saved from.
    """

    def __init__(self, dataset, order="C"):
        self._ds = dataset
        self.order = order
        self.shape = tuple(dataset.shape)
        self.dtype = dataset.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def read_into(self, dst: np.ndarray):
        """Copy the saved array into ``dst`` (same shape and dtype), straight from the
        file when ``dst`` is C-contiguous: no second copy in memory."""
        if dst.shape != self.shape or dst.dtype != self.dtype:
            raise CheckpointError(f"a saved array of shape {self.shape} ({self.dtype}) does "
                                  f"not fit one of shape {dst.shape} ({dst.dtype})")
        if dst.size == 0:
            return
        if dst.ndim and dst.flags.c_contiguous and dst.flags.writeable:
            self._ds.read_direct(dst)
        else:
            np.copyto(dst, self._ds[()])

    def __array__(self, dtype=None, copy=None):
        arr = _read(self._ds)
        if self.order == "F":
            arr = np.asfortranarray(arr)
        return arr if dtype is None else arr.astype(dtype, copy=False)


def encode(tree, arrays: list, where="state"):
    """A JSON-able description of ``tree``; its arrays are appended to ``arrays``.

    Supported: None, bool, int, float, str, NumPy arrays (not object dtype) and scalars,
    NumPy Generators (their bit generator's state), and dicts, lists and tuples of these.

    Raises
    ------
    CheckpointError
        Naming the path of the first value of another type.
    """
    if tree is None or isinstance(tree, (bool, str)):
        return tree
    if isinstance(tree, (int, float)) and not isinstance(tree, np.generic):
        return tree
    if isinstance(tree, InPlace):
        out = encode(tree.array, arrays, where)
        if not isinstance(out, dict) or "__nd__" not in out:
            raise CheckpointError(f"cannot checkpoint {where} in place: only arrays can be")
        return {**out, "in_place": True}
    if isinstance(tree, np.ndarray):
        if tree.dtype.hasobject or tree.dtype.kind in "UV" and tree.dtype.names is None:
            raise CheckpointError(f"cannot checkpoint {where}: arrays of dtype {tree.dtype} "
                                  "are not supported.")
        arrays.append(tree)
        if tree.ndim > 1 and tree.flags.f_contiguous and not tree.flags.c_contiguous:
            # keep the memory order: BLAS may round differently on a transposed layout
            return {"__nd__": len(arrays) - 1, "order": "F"}
        return {"__nd__": len(arrays) - 1}
    if isinstance(tree, np.generic):
        arrays.append(np.asarray(tree))
        return {"__np__": len(arrays) - 1}
    if isinstance(tree, np.random.Generator):
        return {"__rng__": encode(tree.bit_generator.state, arrays, f"{where}.rng")}
    if isinstance(tree, tuple):
        return {"__tuple__": [encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(tree)]}
    if isinstance(tree, list):
        return [encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(tree)]
    if isinstance(tree, dict):
        return {"__dict__": [[encode(k, arrays, f"{where} key"),
                              encode(v, arrays, f"{where}[{k!r}]")] for k, v in tree.items()]}
    raise CheckpointError(f"cannot checkpoint {where}: a {type(tree).__name__} is not "
                          "serialisable (arrays, scalars, strings, None, Generators and "
                          "dicts, lists and tuples of them are).")


def decode(desc, arrays):
    """Inverse of :func:`encode` (``arrays``: the saved arrays, in order, in memory or as
    h5py datasets, read here except those saved :class:`InPlace`)."""
    if isinstance(desc, list):
        return [decode(v, arrays) for v in desc]
    if not isinstance(desc, dict):
        return desc
    if "__nd__" in desc:
        arr = arrays[desc["__nd__"]]
        order = desc.get("order", "C")
        if isinstance(arr, h5py.Dataset):
            if desc.get("in_place"):
                return StoredArray(arr, order)
            arr = _read(arr)
        return np.asfortranarray(arr) if order == "F" else arr
    if "__np__" in desc:
        arr = arrays[desc["__np__"]]
        return (_read(arr) if isinstance(arr, h5py.Dataset) else arr)[()]
    if "__rng__" in desc:
        state = decode(desc["__rng__"], arrays)
        bitgen = getattr(np.random, state["bit_generator"])()
        bitgen.state = state
        return np.random.Generator(bitgen)
    if "__tuple__" in desc:
        return tuple(decode(v, arrays) for v in desc["__tuple__"])
    if "__dict__" in desc:
        return {_hashable(decode(k, arrays)): decode(v, arrays) for k, v in desc["__dict__"]}
    raise CheckpointError(f"unknown checkpoint entry {sorted(desc)}")


def _read(ds):
    return np.asarray(ds[()], dtype=ds.dtype) if ds.shape == () else ds[()]


def _hashable(key):
    return key.item() if isinstance(key, np.generic) else key


def restore_into(target, saved, where):
    """Copy ``saved`` into the mutable object ``target`` in place (the experiment's
    closures hold references to it, so it cannot be replaced)."""
    if isinstance(target, np.random.Generator):
        target.bit_generator.state = saved.bit_generator.state
    elif isinstance(target, np.ndarray):
        if target.shape != saved.shape:
            raise CheckpointError(f"checkpoint of {where}: shape {saved.shape} does not fit "
                                  f"{target.shape}.")
        if isinstance(saved, StoredArray):
            saved.read_into(target)
        else:
            np.copyto(target, saved)
    elif isinstance(target, dict):
        target.clear()
        target.update(saved)
    elif isinstance(target, list):
        target[:] = saved
    elif hasattr(target, "set_checkpoint_state"):
        target.set_checkpoint_state(saved)
    else:
        raise CheckpointError(f"cannot restore {where} in place: a {type(target).__name__} "
                              "(track Generators, arrays, dicts, lists, or objects with "
                              "get_checkpoint_state/set_checkpoint_state).")


def _snapshot_of(obj):
    if isinstance(obj, np.random.Generator):
        return obj  # encode() stores its state
    if isinstance(obj, np.ndarray):
        # written out before the loop goes on, and read back into the same array
        return InPlace(obj)
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    if hasattr(obj, "get_checkpoint_state"):
        return obj.get_checkpoint_state()
    raise CheckpointError(f"cannot track a {type(obj).__name__} (track Generators, arrays, "
                          "dicts, lists, or objects with get_checkpoint_state/"
                          "set_checkpoint_state).")


# --------------------------------------------------------------------------- file
def data_lengths(h5: h5py.File) -> dict:
    """``{path: length}`` of every extendable dataset outside ``/checkpoint``."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.maxshape and obj.maxshape[0] is None:
            out[name] = int(obj.shape[0])

    for key in h5:
        if key != "checkpoint" and isinstance(h5[key], h5py.Group):
            h5[key].visititems(lambda n, o, _k=key: visit(f"{_k}/{n}", o))
    return out


def truncate_to(h5: h5py.File, lengths: dict):
    """Cut every extendable dataset back to its checkpointed length; delete the ones
    created after the checkpoint (and groups left empty)."""
    now = data_lengths(h5)
    for path, n in now.items():
        if path in lengths:
            if n > lengths[path]:
                ds = h5[path]
                ds.resize((lengths[path], *ds.shape[1:]))
        else:
            del h5[path]
    for path in sorted({p.rsplit("/", 1)[0] for p in now if p not in lengths},
                       key=len, reverse=True):
        while path and path in h5 and isinstance(h5[path], h5py.Group) and not len(h5[path]):
            del h5[path]
            path = path.rsplit("/", 1)[0] if "/" in path else ""


def _best_slot(h5):
    grp = h5.get("checkpoint")
    if grp is None:
        return None
    done = [grp[s] for s in _SLOTS if s in grp and grp[s].attrs.get("complete", False)]
    return max(done, key=lambda g: int(g.attrs["seq"])) if done else None


def has_checkpoint(h5) -> bool:
    return _best_slot(h5) is not None


def read_checkpoint(h5):
    """The newest complete checkpoint: ``(info, state, lengths)`` or None.

    Arrays saved :class:`InPlace` are :class:`StoredArray` s, to be read while ``h5`` is
    open; the others are read now."""
    slot = _best_slot(h5)
    if slot is None:
        return None
    arrays = []
    i = 0
    while f"a{i}" in slot:
        arrays.append(slot[f"a{i}"])
        i += 1
    tree = json.loads(slot["tree"][()].tobytes().decode())
    info = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in slot.attrs.items()}
    info = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}
    return info, decode(tree, arrays), json.loads(info.pop("lengths"))


def _write_array(grp, name, arr):
    if name in grp:
        ds = grp[name]
        if ds.shape == arr.shape and ds.dtype == arr.dtype:
            ds[()] = arr
            return
        del grp[name]
    grp.create_dataset(name, data=arr)


def write_checkpoint(h5, info: dict, tree, lengths: dict):
    """Write a checkpoint into the older slot, then mark it complete."""
    root = h5.require_group("checkpoint")
    newest = _best_slot(h5)
    # overwrite the slot that does not hold the newest complete checkpoint
    name = _SLOTS[0] if newest is None or newest.name.endswith(_SLOTS[1]) else _SLOTS[1]
    seq = 1 + (int(newest.attrs["seq"]) if newest is not None else 0)
    slot = root.require_group(name)
    slot.attrs["complete"] = False
    h5.flush()
    arrays: list = []
    desc = encode(tree, arrays)
    for i, arr in enumerate(arrays):
        # not np.ascontiguousarray: it turns a 0-d array (a NumPy scalar) into shape (1,)
        _write_array(slot, f"a{i}", arr if arr.flags.c_contiguous else arr.copy(order="C"))
    i = len(arrays)
    while f"a{i}" in slot:  # arrays of a previous, larger state
        del slot[f"a{i}"]
        i += 1
    raw = np.frombuffer(json.dumps(desc).encode(), dtype=np.uint8)
    if "tree" in slot:
        del slot["tree"]
    slot.create_dataset("tree", data=raw)
    for key, value in info.items():
        slot.attrs[key] = value
    slot.attrs["lengths"] = json.dumps(lengths)
    slot.attrs["seq"] = seq
    h5.flush()
    slot.attrs["complete"] = True
    h5.flush()


# --------------------------------------------------------------------------- runtime
class Checkpointer:
    """The checkpoints of one run: what to save, when, and what to restore.

    Experiments reach it as ``ctx.checkpointer``; the loops find it through
    :func:`current_checkpointer`.

    Parameters
    ----------
    recorder : Recorder
    enabled : bool
        Whether the experiment supports resuming; when False nothing is saved.
    resume : tuple, optional
        ``(info, state)`` of the checkpoint to resume from.
    rngs : list of numpy.random.Generator
        The run context's generators (the master and every child): saved and restored.
    """

    def __init__(self, recorder, *, enabled, resume=None, rngs=()):
        self.recorder = recorder
        self.enabled = bool(enabled)
        self._rngs = rngs
        self._items: dict = {}
        self._loops = 0
        self._resume = resume
        self._last = time.monotonic()
        self.restored_step = None

    @property
    def replaying(self) -> bool:
        """True while a resumed run recomputes what precedes its checkpoint."""
        return self._resume is not None

    def register(self, name, get_state, set_state):
        """Save ``get_state()`` at every checkpoint and hand it back to ``set_state``
        when the run resumes (before the checkpointed loop continues)."""
        if name in self._items:
            raise CheckpointError(f"checkpoint state '{name}' registered twice")
        self._items[name] = (get_state, set_state)

    def track(self, name, *objects):
        """Save and restore (in place) mutable objects of the experiment's loop:
        Generators, arrays, dicts, lists, or objects with ``get_checkpoint_state`` and
        ``set_checkpoint_state``. Register them before the loop starts."""
        for i, obj in enumerate(objects):
            _snapshot_of(obj)  # refuse an unsupported object now, not at the checkpoint

            def restore(saved, _o=obj, _w=f"'{name}'[{i}]"):
                restore_into(_o, saved, _w)

            self.register(f"{name}[{i}]" if len(objects) > 1 else name,
                          lambda _o=obj: _snapshot_of(_o), restore)

    # -- used by the loops ---------------------------------------------------------
    def begin_loop(self, kind):
        """Number the next loop of the run; return its saved state if the run resumes
        in it (restoring everything registered), else None."""
        index = self._loops
        self._loops += 1
        if self._resume is None:
            return index, None
        info, tree = self._resume
        if int(info["loop"]) != index:
            return index, None
        if info["kind"] != kind:
            raise CheckpointError(f"the checkpoint was taken in a '{info['kind']}' loop but "
                                  f"loop {index} of this run is a '{kind}' loop")
        self._restore_common(tree)
        self._resume = None
        self.restored_step = info["step"]
        self.recorder.replaying = False
        return index, tree["loop"]

    def _restore_common(self, tree):
        saved_rngs = tree["rngs"]
        if len(saved_rngs) != len(self._rngs):
            raise CheckpointError(f"the checkpoint has {len(saved_rngs)} generators of the "
                                  f"run context, this run made {len(self._rngs)}")
        for gen, saved in zip(self._rngs, saved_rngs, strict=True):
            gen.bit_generator.state = saved.bit_generator.state
        missing = set(tree["items"]) - set(self._items)
        extra = set(self._items) - set(tree["items"])
        if missing or extra:
            raise CheckpointError("the checkpointed state does not match this run's "
                                  f"(missing {sorted(missing)}, unexpected {sorted(extra)})")
        for name, value in tree["items"].items():
            self._items[name][1](value)

    def due(self, force=False) -> bool:
        """Whether a checkpoint should be written now (raises
        :class:`~plasticity.io.interrupts.Interrupted` if a SIGTERM's exception was lost)."""
        raise_if_terminated()
        if not self.enabled or self.replaying:
            return False
        return force or time.monotonic() - self._last >= self.recorder.checkpoint_s

    def save(self, loop, kind, step, loop_state):
        """Write the data recorded so far, then the state at the end of ``step``."""
        rec = self.recorder
        rec.flush()
        tree = {"loop": loop_state, "rngs": list(self._rngs),
                "items": {name: get() for name, (get, _) in self._items.items()}}
        write_checkpoint(rec.h5, {"loop": int(loop), "kind": kind, "step": step}, tree,
                         data_lengths(rec.h5))
        self._last = time.monotonic()

    def finish(self):
        """Raise if a resumed run never reached its checkpoint."""
        if self._resume is not None:
            raise RunFileError("the resumed run never reached its checkpoint (loop "
                               f"{self._resume[0]['loop']}): the experiment did not run the "
                               "same way again")
