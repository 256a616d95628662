namespace Bcbp.Training.Config;

/// <summary>
/// A config section with range and cross-key checks. <see cref="ConfigLoader"/> calls <see cref="Validate"/> on the
/// root after binding; a section validates its own keys and calls <see cref="Validate"/> on its subsections with
/// <c>ConfigErrors.Join(path, "subsection")</c>. Type errors and unknown keys are found earlier by the binder.
/// </summary>
public interface IConfigSection
{
    /// <param name="path">This section's key path in file spelling ("" for the root, "prune.schedule").</param>
    /// <param name="errors">Where problems go; never throw for a bad value.</param>
    void Validate(string path, ConfigErrors errors);
}
