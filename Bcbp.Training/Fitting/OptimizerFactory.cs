using Bcbp.Training.Config;
using TorchSharp;
using TorchSharp.Modules;

namespace Bcbp.Training.Fitting;

/// <summary>Creates the optimizer named by <c>train.optimizer</c> (sgd, adam, adamw) with PyTorch's semantics.</summary>
public static class OptimizerFactory
{
    public static torch.optim.Optimizer Create(TrainConfig config, IEnumerable<Parameter> parameters)
    {
        var ps = parameters.ToList();
        if (config.Nesterov && (config.Optimizer != "sgd" || config.Momentum <= 0))
            throw new ArgumentException("train.nesterov: Nesterov momentum needs optimizer sgd with train.momentum > 0.");
        return config.Optimizer switch
        {
            "sgd" => torch.optim.SGD(ps, config.Lr, momentum: config.Momentum, weight_decay: config.WeightDecay,
                nesterov: config.Nesterov),
            // Adam adds weight_decay * w to the gradient (L2); AdamW decays the weights directly (decoupled).
            "adam" => torch.optim.Adam(ps, config.Lr, weight_decay: config.WeightDecay),
            "adamw" => torch.optim.AdamW(ps, config.Lr, weight_decay: config.WeightDecay),
            _ => throw new ArgumentException($"train.optimizer: '{config.Optimizer}' is not known; use sgd, adam or adamw."),
        };
    }

    /// <summary>Sets the learning rate of every parameter group (the schedule drives it step by step).</summary>
    public static void SetLearningRate(torch.optim.Optimizer optimizer, double lr)
    {
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
    }
}
