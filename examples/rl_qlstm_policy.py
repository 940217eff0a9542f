"""Reinforcement learning with a QLSTM policy: recurrent PPO on CartPole without velocities.

    python examples/rl_qlstm_policy.py                       # 100,000 steps, 8 environments
    python examples/rl_qlstm_policy.py --algo a2c --env qseq/CueRecall-v0 --steps 50000
    python examples/rl_qlstm_policy.py --smoke               # 512 steps, 2 evaluation episodes

`qseq/CartPoleNoVel-v1` hides the cart's and the pole's velocities, so the agent must infer them
from its memory: the QLSTM core (4 qubits) carries its state along the episode and is reset at
episode starts; linear actor and critic heads read its output. After training, the greedy policy
plays whole episodes on the torch engine and, with --backend, on another backend (for example
`aer`, or `ibm:fake_manila` offline) with the same weights. The run directory under --out holds
the configuration, metrics, the checkpoint and the learning curve; `qseq rl-eval --checkpoint`
reads it too.

Budgets: the README's measurements (benchmarks/RESULTS.md) say how far such a policy gets;
100,000 steps show learning, not a solved task.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import qseq.rl as rl


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--env", default="qseq/CartPoleNoVel-v1", help="a gymnasium id (default: qseq/CartPoleNoVel-v1)"
    )
    parser.add_argument("--algo", choices=("ppo", "a2c"), default="ppo", help="(default: ppo)")
    parser.add_argument("--steps", type=int, default=100_000, help="environment steps (default: 100000)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (default: 20)")
    parser.add_argument("--backend", default=None, help="also evaluate with the circuits there, e.g. aer")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/rl"), help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out (more --steps)")
    parser.add_argument("--smoke", action="store_true", help="512 steps, 2 evaluation episodes")
    args = parser.parse_args(argv)
    steps, episodes = (512, 2) if args.smoke else (args.steps, args.episodes)

    Config = rl.PPOConfig if args.algo == "ppo" else rl.A2CConfig
    config = Config(env_id=args.env, model="qlstm", total_steps=steps, n_envs=8, progress=not args.smoke)
    try:
        result = rl.train(config, run_dir=args.out, resume=args.resume)
    except FileExistsError as err:  # a finished run is never overwritten
        parser.error(f"{err} (here: --resume, or another --out)")
    returns = rl.evaluate(result.agent, config.env_id, episodes=episodes)
    print(f"{args.algo} + QLSTM on {args.env}, {steps} steps: greedy return {returns.mean():.1f} ± {returns.std():.1f}")
    out = {"returns": returns}
    if args.backend:
        agent, _ = rl.load_agent(args.out, backend=args.backend)
        there = rl.evaluate(agent, config.env_id, episodes=episodes)
        print(f"the same policy on {args.backend}: return {there.mean():.1f} ± {there.std():.1f}")
        out["backend_returns"] = there
    print(f"run directory: {args.out}")
    return out


if __name__ == "__main__":
    main()
