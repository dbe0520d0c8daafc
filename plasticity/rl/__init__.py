"""Reinforcement learning: temporal-difference critics and dopamine-like error signals."""

from plasticity.rl.critic import CompleteSerialCompound, TDCritic

__all__ = ["CompleteSerialCompound", "TDCritic"]
