"""Reinforcement learning: temporal-difference critics, dopamine-like error signals,
bandits with exact policy gradients, environments and a rate-based actor-critic."""

from plasticity.rl.actor_critic import ActorCritic
from plasticity.rl.bandit import BanditTask, BernoulliBandit, GaussianBandit
from plasticity.rl.critic import CompleteSerialCompound, TDCritic
from plasticity.rl.envs import GridWorld, make_env

__all__ = ["ActorCritic", "BanditTask", "BernoulliBandit", "CompleteSerialCompound",
           "GaussianBandit", "GridWorld", "TDCritic", "make_env"]
