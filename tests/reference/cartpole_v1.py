#!/usr/bin/python3
"""Gym's CartPole-v1, transcribed from gym/envs/classic_control/cartpole.py
(Euler integration) and the TimeLimit(500) wrapper, in plain Python floats:
the independent reference that tests/lua/rl_spec.lua holds dnn.rl.CartPole
against. Gym's actions are 0 (left) and 1 (right).

stdin: one case per line, "max_steps x x_dot theta theta_dot a1 a2 ...".
stdout: per case, a line per step "x x_dot theta theta_dot reward terminated
truncated" (repr floats, 0/1 flags), then a line "end". A case stops at the
first terminated or truncated step; actions left over are not taken.
"""
import math
import sys

gravity = 9.8
masscart = 1.0
masspole = 0.1
total_mass = masspole + masscart
length = 0.5  # half the pole's length
polemass_length = masspole * length
force_mag = 10.0
tau = 0.02
theta_threshold_radians = 12 * 2 * math.pi / 360
x_threshold = 2.4


def step(state, action):
    x, x_dot, theta, theta_dot = state
    force = force_mag if action == 1 else -force_mag
    costheta = math.cos(theta)
    sintheta = math.sin(theta)
    temp = (force + polemass_length * theta_dot**2 * sintheta) / total_mass
    thetaacc = (gravity * sintheta - costheta * temp) / (
        length * (4.0 / 3.0 - masspole * costheta**2 / total_mass))
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    x = x + tau * x_dot
    x_dot = x_dot + tau * xacc
    theta = theta + tau * theta_dot
    theta_dot = theta_dot + tau * thetaacc
    state = (x, x_dot, theta, theta_dot)
    terminated = bool(x < -x_threshold or x > x_threshold or theta < -theta_threshold_radians
                      or theta > theta_threshold_radians)
    return state, 1.0, terminated


def main():
    for line in sys.stdin:
        fields = line.split()
        if not fields:
            continue
        max_steps = int(fields[0])
        state = tuple(float(v) for v in fields[1:5])
        actions = [int(a) for a in fields[5:]]
        for elapsed, action in enumerate(actions, start=1):
            state, reward, terminated = step(state, action)
            truncated = elapsed >= max_steps
            print(" ".join(repr(v) for v in state), repr(reward), int(terminated), int(truncated))
            if terminated or truncated:
                break
        print("end")


main()
