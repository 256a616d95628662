using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using Bcbp.Training.Pruning.Methods;

namespace Bcbp.Tests.Pruning;

/// <summary>The typed pruning vocabulary keeps the file's strings, and every method has exactly one descriptor.</summary>
public class PruningVocabularyTests
{
    [Test]
    public void EnumsSpellTheConfigFilesStrings()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ConfigNames.All<PruneMethod>(), Is.EqualTo(new[] { "bcbp", "filter", "block", "unstructured", "nm" }));
            Assert.That(ConfigNames.All<PruneScope>(), Is.EqualTo(new[] { "layer", "global" }));
            Assert.That(ConfigNames.All<PruneScore>(), Is.EqualTo(new[] { "l1", "l2" }));
            Assert.That(ConfigNames.All<ScheduleKind>(), Is.EqualTo(new[] { "cubic", "linear", "one_shot" }));
            Assert.That(ConfigNames.All<RemainderRule>(), Is.EqualTo(new[] { "error", "own_tile" }));
            Assert.That(ConfigNames.All<TrainingPhase>(), Is.EqualTo(new[] { "dense", "finetune" }));
            Assert.That(ConfigNames.Parse<ScheduleKind>("one_shot", "prune.schedule.kind"), Is.EqualTo(ScheduleKind.OneShot));
            Assert.That(() => ConfigNames.Parse<PruneScope>("model", "prune.scope"),
                Throws.ArgumentException.With.Message.EqualTo("prune.scope 'model' is unknown; use one of layer, global."));
        });
    }

    [Test]
    public void EveryMethodHasOneDescriptorThatBuildsIt()
    {
        Assert.That(PruningMethodInfo.All.Select(d => d.Method), Is.EqualTo(Enum.GetValues<PruneMethod>()));
        foreach (var d in PruningMethodInfo.All)
            Assert.That(d.Create(new PruneOptions()).Method, Is.EqualTo(d.Method), d.Name);
        Assert.That(PruningMethodInfo.All.Where(d => d.Structural).Select(d => d.Name), Is.EqualTo(new[] { "filter" }));
        Assert.That(PruningMethodInfo.All.Where(d => d.UsesTiles).Select(d => d.Name), Is.EqualTo(new[] { "bcbp" }));
    }

    [Test]
    public void TrainingPhaseIsWrittenByName()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(new CheckpointState { Phase = TrainingPhase.Finetune });
        Assert.That(json, Does.Contain("\"finetune\""));
        Assert.That(System.Text.Json.JsonSerializer.Deserialize<CheckpointState>(json)!.Phase, Is.EqualTo(TrainingPhase.Finetune));
    }
}
