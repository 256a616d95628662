using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>Creates the <see cref="IPruningMethod"/> that prune.method names (<see cref="PruningMethodInfo"/>).</summary>
public static class PruningMethods
{
    /// <summary>The method of <paramref name="config"/> (validated first).</summary>
    public static IPruningMethod Create(PruneConfig config)
    {
        config.Validate();
        return PruningMethodInfo.Of(config.MethodKind).Create(PruneOptions.From(config));
    }

    /// <summary>The method called <paramref name="name"/> with <paramref name="o"/>.</summary>
    public static IPruningMethod Create(string name, PruneOptions o) =>
        PruningMethodInfo.Of(ConfigNames.Parse<PruneMethod>(name, "prune.method")).Create(o);
}
