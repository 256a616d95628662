using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Bcbp.Tests.Architecture;

/// <summary>One use of a type of the assembly by another of its types: <paramref name="From"/> and <paramref name="To"/>
/// are full names of top-level types (a nested or compiler-generated type counts as its outermost type).</summary>
public sealed record TypeReference(string FromNamespace, string From, string ToNamespace, string To);

/// <summary>
/// Reads, from the compiled assembly's metadata, which of its own types each type uses: base types and interfaces,
/// field, method, property and local signatures, generic constraints, attributes, and every type, method and field
/// token in method bodies. What the compiler resolved is what counts, so a fully qualified name is seen as well as one
/// brought in by a <c>using</c>; constants are inlined by the compiler and are not seen.
/// </summary>
public static class TypeReferences
{
    public static IReadOnlyList<TypeReference> Read(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();
        var result = new HashSet<TypeReference>();
        foreach (var handle in md.TypeDefinitions)
        {
            var collector = new Collector(md);
            collector.AddType(handle, pe);
            var (fromNs, from) = TopLevelName(md, handle);
            foreach (var target in collector.Found)
            {
                var (toNs, to) = TopLevelName(md, target);
                if (to != from) result.Add(new TypeReference(fromNs, from, toNs, to));
            }
        }
        return result.ToList();
    }

    static (string Namespace, string Name) TopLevelName(MetadataReader md, TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        while (type.IsNested) type = md.GetTypeDefinition(type.GetDeclaringType());
        string ns = md.GetString(type.Namespace);
        return (ns, ns.Length == 0 ? md.GetString(type.Name) : ns + "." + md.GetString(type.Name));
    }

    /// <summary>Collects the type definitions that the members of one type refer to.</summary>
    sealed class Collector(MetadataReader md) : ISignatureTypeProvider<int, object?>
    {
        public HashSet<TypeDefinitionHandle> Found { get; } = new();

        public void AddType(TypeDefinitionHandle handle, PEReader pe)
        {
            var type = md.GetTypeDefinition(handle);
            AddEntity(type.BaseType);
            foreach (var i in type.GetInterfaceImplementations()) AddEntity(md.GetInterfaceImplementation(i).Interface);
            AddAttributes(type.GetCustomAttributes());
            AddGenericParameters(type.GetGenericParameters());
            foreach (var f in type.GetFields())
            {
                var field = md.GetFieldDefinition(f);
                field.DecodeSignature(this, null);
                AddAttributes(field.GetCustomAttributes());
            }
            foreach (var p in type.GetProperties())
            {
                var property = md.GetPropertyDefinition(p);
                property.DecodeSignature(this, null);
                AddAttributes(property.GetCustomAttributes());
            }
            foreach (var e in type.GetEvents()) AddEntity(md.GetEventDefinition(e).Type);
            foreach (var m in type.GetMethods())
            {
                var method = md.GetMethodDefinition(m);
                method.DecodeSignature(this, null);
                AddAttributes(method.GetCustomAttributes());
                AddGenericParameters(method.GetGenericParameters());
                foreach (var p in method.GetParameters()) AddAttributes(md.GetParameter(p).GetCustomAttributes());
                if (method.RelativeVirtualAddress != 0) AddBody(pe.GetMethodBody(method.RelativeVirtualAddress));
            }
        }

        void AddBody(MethodBodyBlock body)
        {
            if (!body.LocalSignature.IsNil)
                md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(this, null);
            var il = body.GetILReader();
            while (il.RemainingBytes > 0)
            {
                int code = il.ReadByte();
                if (code == 0xFE) code = 0xFE00 | il.ReadByte();
                var operand = OperandTypes.TryGetValue(code, out var t) ? t
                    : throw new InvalidDataException($"unknown IL opcode 0x{code:X}");
                switch (operand)
                {
                    case OperandType.InlineField: case OperandType.InlineMethod: case OperandType.InlineTok: case OperandType.InlineType:
                        AddEntity(MetadataTokens.EntityHandle(il.ReadInt32()));
                        break;
                    case OperandType.InlineSwitch:
                        int n = il.ReadInt32();
                        il.Offset += 4 * n;
                        break;
                    default:
                        il.Offset += OperandSize(operand);
                        break;
                }
            }
        }

        void AddEntity(EntityHandle handle)
        {
            if (handle.IsNil) return;
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition: Found.Add((TypeDefinitionHandle)handle); break;
                case HandleKind.TypeSpecification: md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null); break;
                case HandleKind.MethodDefinition: Found.Add(md.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType()); break;
                case HandleKind.FieldDefinition: Found.Add(md.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType()); break;
                case HandleKind.MemberReference:
                    var member = md.GetMemberReference((MemberReferenceHandle)handle);
                    AddEntity(member.Parent);
                    if (member.GetKind() == MemberReferenceKind.Method) member.DecodeMethodSignature(this, null);
                    else member.DecodeFieldSignature(this, null);
                    break;
                case HandleKind.MethodSpecification:
                    var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                    AddEntity(spec.Method);
                    spec.DecodeSignature(this, null);
                    break;
            }
        }

        void AddAttributes(CustomAttributeHandleCollection attributes)
        {
            foreach (var a in attributes) AddEntity(md.GetCustomAttribute(a).Constructor);
        }

        void AddGenericParameters(GenericParameterHandleCollection parameters)
        {
            foreach (var p in parameters)
                foreach (var c in md.GetGenericParameter(p).GetConstraints())
                    AddEntity(md.GetGenericParameterConstraint(c).Type);
        }

        public int GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) { Found.Add(handle); return 0; }
        public int GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte rawTypeKind)
            => reader.GetTypeSpecification(handle).DecodeSignature(this, context);
        public int GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => 0;
        public int GetArrayType(int elementType, ArrayShape shape) => 0;
        public int GetByReferenceType(int elementType) => 0;
        public int GetGenericInstantiation(int genericType, ImmutableArray<int> typeArguments) => 0;
        public int GetPointerType(int elementType) => 0;
        public int GetPrimitiveType(PrimitiveTypeCode typeCode) => 0;
        public int GetSZArrayType(int elementType) => 0;
        public int GetFunctionPointerType(MethodSignature<int> signature) => 0;
        public int GetGenericMethodParameter(object? genericContext, int index) => 0;
        public int GetGenericTypeParameter(object? genericContext, int index) => 0;
        public int GetModifiedType(int modifier, int unmodifiedType, bool isRequired) => 0;
        public int GetPinnedType(int elementType) => 0;
    }

    /// <summary>Operand kind of every IL opcode (one byte, or 0xFE then one byte), from System.Reflection.Emit.</summary>
    static readonly Dictionary<int, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => (int)(ushort)o.Value, o => o.OperandType);

    static int OperandSize(OperandType operand) => operand switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        _ => 4,
    };
}
