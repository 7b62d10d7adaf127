// User-assigned managed identities: one for the OMEGA workloads (every service account is
// federated to it) and one for the KEDA operator's Service Bus scaler.
param baseName string
param location string
param tags object

resource apps 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${baseName}-apps'
  location: location
  tags: tags
}

resource keda 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${baseName}-keda'
  location: location
  tags: tags
}

output appsName string = apps.name
output appsClientId string = apps.properties.clientId
output appsPrincipalId string = apps.properties.principalId
output kedaName string = keda.name
output kedaClientId string = keda.properties.clientId
output kedaPrincipalId string = keda.properties.principalId
