"""Signal processing of a phone's accelerometer: gravity removal, vertical acceleration, the roughness band."""

from __future__ import annotations

import numpy as np
from scipy import signal

#: Lower edge of the roughness band (Hz).
BAND_LOW_HZ = 0.5


#: Upper edge of the roughness band (Hz), capped at 0.45 × the sampling rate.
BAND_HIGH_HZ = 20.0


#: Cut-off of the low-pass filter estimating gravity (Hz).
GRAVITY_CUTOFF_HZ = 0.3


def _filter(kind: str, cutoff: float | tuple[float, float], fs: float, order: int) -> np.ndarray:
    return signal.butter(order, cutoff, btype=kind, fs=fs, output="sos")


def _filtfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    padlen = min(x.shape[0] - 1, 3 * (2 * len(sos) + 1) * 8)
    return signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)


def vertical_acceleration(acc: np.ndarray, fs: float, *, gravity_cutoff_hz: float = GRAVITY_CUTOFF_HZ) -> np.ndarray:
    """Gravity-free acceleration along the vertical, for a phone in any orientation.

    Args:
        acc: ``(n, 3)`` accelerations in m/s² with gravity present, or ``(n,)`` / ``(n, 1)`` vertical axis only.
        fs: Sampling rate (Hz).
        gravity_cutoff_hz: Cut-off of the low-pass gravity estimate.

    Returns:
        ``(n,)`` vertical acceleration in m/s² (gravity removed; slow trends below the cut-off removed too).
    """
    acc = np.asarray(acc, dtype="float64")
    if acc.ndim == 1:
        acc = acc[:, None]
    gravity = _filtfilt(_filter("lowpass", gravity_cutoff_hz, fs, 2), acc)
    linear = acc - gravity
    if acc.shape[1] == 1:
        return linear[:, 0]
    norm = np.linalg.norm(gravity, axis=1, keepdims=True)
    unit = gravity / np.where(norm > 0, norm, 1.0)
    return np.einsum("ij,ij->i", linear, unit)


def roughness_band(fs: float) -> tuple[float, float]:
    """The band (Hz) used for roughness at sampling rate ``fs``."""
    return BAND_LOW_HZ, min(BAND_HIGH_HZ, 0.45 * fs)


def _band_and_velocity(a_vert: np.ndarray, t: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Band-passed vertical acceleration and the vertical velocity obtained from it (drift removed)."""
    low, high = roughness_band(fs)
    a = _filtfilt(_filter("bandpass", (low, high), fs, 4), a_vert)
    dt = np.diff(t, append=t[-1] + 1.0 / fs)
    dt = np.clip(dt, 0.0, 2.0 / fs)
    vel = np.cumsum(a * dt)
    vel = _filtfilt(_filter("highpass", BAND_LOW_HZ, fs, 2), vel)
    return a, vel
