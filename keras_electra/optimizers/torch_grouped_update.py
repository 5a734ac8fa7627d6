"""`LayerwiseDecayAdamW`'s step on PyTorch as a few multi-tensor updates.

Keras runs `keras.optimizers.AdamW` on torch with `torch._foreach_*`
kernels, one call per operation for all variables, but only for that exact
class; a subclass that overrides `update_step` falls back to a Python loop
of about fifteen small ops per variable. A layer-wise decay has only
`num_layers + 2` distinct rates, so the variables are grouped by
(multiplier, weight decay or not) and each group is updated at its own rate
with multi-tensor ops: the arithmetic of `update_step`, batched.
"""

import torch


def update(optimizer, grads, variables, learning_rate):
    """One step of `optimizer` (a `LayerwiseDecayAdamW`) on torch."""
    with torch.no_grad():
        step = optimizer.iterations.value.to(torch.float32) + 1
        # Adam's bias corrections, folded into the rate as Keras does.
        correction = torch.sqrt(1 - optimizer.beta_2**step) / (
            1 - optimizer.beta_1**step
        )
        for (multiplier, decays), group in _groups(optimizer, variables):
            rate = learning_rate * multiplier
            values = [variables[i].value for i in group]
            if decays:
                torch._foreach_sub_(
                    values, torch._foreach_mul(values, optimizer.weight_decay * rate)
                )
            _adam(optimizer, [grads[i] for i in group],
                  [variables[i] for i in group], values, rate * correction)


def _adam(optimizer, grads, variables, values, alpha):
    indices = [optimizer._get_variable_index(v) for v in variables]
    momentums = [optimizer._momentums[i].value for i in indices]
    velocities = [optimizer._velocities[i].value for i in indices]
    beta_1, beta_2 = optimizer.beta_1, optimizer.beta_2
    torch._foreach_lerp_(momentums, grads, 1 - beta_1)
    torch._foreach_mul_(velocities, beta_2)
    torch._foreach_addcmul_(velocities, grads, grads, value=1 - beta_2)
    if optimizer.amsgrad:
        maxima = [optimizer._velocity_hats[i].value for i in indices]
        torch._foreach_maximum_(maxima, velocities)
        velocities = maxima
    denominators = torch._foreach_add(torch._foreach_sqrt(velocities),
                                      optimizer.epsilon)
    updates = torch._foreach_mul(momentums, alpha)
    torch._foreach_div_(updates, denominators)
    torch._foreach_sub_(values, updates)


def _groups(optimizer, variables):
    groups = {}
    for position, variable in enumerate(variables):
        index = optimizer._get_variable_index(variable)
        key = (
            optimizer._multipliers[index],
            bool(optimizer._use_weight_decay(variable)),
        )
        groups.setdefault(key, []).append(position)
    return groups.items()
