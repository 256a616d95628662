using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bcbp.Training.Fitting;

/// <summary>The phase a <see cref="Trainer"/> runs: dense training, or fine-tuning under the pruning hook. Files
/// (checkpoint header, metrics.json/csv) and logs spell it <c>dense</c> / <c>finetune</c> (Config.ConfigNames).</summary>
[JsonConverter(typeof(TrainingPhaseJson))]
public enum TrainingPhase { Dense, Finetune }

/// <summary>Reads and writes <see cref="TrainingPhase"/> as its snake_case name (no numbers).</summary>
public sealed class TrainingPhaseJson() : JsonStringEnumConverter<TrainingPhase>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false);
