"""Duration and time-between-event distributions of the twin definition format.

Each family is a small pydantic model tagged by ``dist``; all parameters are in the variable's own
units (hours), so a clinician reading the YAML sees means and standard deviations, not the
log-scale parameters. ``LogNormal(mean, sd)`` follows RH1: ``sigma² = ln(1 + (sd/mean)²)``,
``mu = ln(mean) − sigma²/2``. Sampling is vectorised (``sample(rng, n)``) because the engine draws
in blocks: numpy's per-call overhead dwarfs the cost of one draw.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

FloatArray = np.ndarray  # float64 arrays returned by sample()


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        raise NotImplementedError

    def mean(self) -> float:
        raise NotImplementedError


class Fixed(_Dist):
    """Always the same value."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(ge=0)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return np.full(n, self.value)

    def mean(self) -> float:
        return self.value


class Exponential(_Dist):
    dist: Literal["exponential"] = "exponential"
    mean_: float = Field(gt=0, alias="mean")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.exponential(self.mean_, n)

    def mean(self) -> float:
        return self.mean_


class LogNormal(_Dist):
    """Log-normal given by the mean and standard deviation of the variable itself."""

    dist: Literal["lognormal"] = "lognormal"
    mean_: float = Field(gt=0, alias="mean")
    sd: float = Field(gt=0)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p((self.sd / self.mean_) ** 2))

    @property
    def mu(self) -> float:
        return math.log(self.mean_) - self.sigma**2 / 2

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.lognormal(self.mu, self.sigma, n)

    def mean(self) -> float:
        return self.mean_


class Gamma(_Dist):
    """Gamma by shape and scale (mean = shape × scale)."""

    dist: Literal["gamma"] = "gamma"
    shape: float = Field(gt=0)
    scale: float = Field(gt=0)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.gamma(self.shape, self.scale, n)

    def mean(self) -> float:
        return self.shape * self.scale


class Weibull(_Dist):
    """Weibull by shape k and scale λ; a common time-to-failure model."""

    dist: Literal["weibull"] = "weibull"
    shape: float = Field(gt=0)
    scale: float = Field(gt=0)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return self.scale * rng.weibull(self.shape, n)

    def mean(self) -> float:
        return self.scale * math.gamma(1 + 1 / self.shape)


class Uniform(_Dist):
    dist: Literal["uniform"] = "uniform"
    low: float = Field(ge=0)
    high: float

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.uniform(self.low, self.high, n)

    def mean(self) -> float:
        return (self.low + self.high) / 2


class Empirical(_Dist):
    """Resampling of observed values, optionally weighted (a discrete distribution)."""

    dist: Literal["empirical"] = "empirical"
    values: list[Annotated[float, Field(ge=0)]] = Field(min_length=1)
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Empirical:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("weights must have one entry per value")
            if sum(self.weights) <= 0:
                raise ValueError("weights must not all be zero")
        return self

    def _probabilities(self) -> FloatArray | None:
        if self.weights is None:
            return None
        w = np.asarray(self.weights, dtype=float)
        probs: FloatArray = w / w.sum()
        return probs

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.choice(np.asarray(self.values, dtype=float), size=n, p=self._probabilities())

    def mean(self) -> float:
        p = self._probabilities()
        v = np.asarray(self.values, dtype=float)
        return float(v.mean() if p is None else (v * p).sum())


Distribution = Annotated[
    Fixed | Exponential | LogNormal | Gamma | Weibull | Uniform | Empirical,
    Field(discriminator="dist"),
]
