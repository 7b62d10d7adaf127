// Azure AI Search: the long-term semantic index (vector field + tenant filter). API keys are
// disabled; the workloads create and query the index with their managed identity.
param name string
param location string
param sku string
param replicaCount int
param appsPrincipalId string
param tags object

resource service 'Microsoft.Search/searchServices@2023-11-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: sku }
  properties: {
    replicaCount: replicaCount
    partitionCount: 1
    hostingMode: 'default'
    disableLocalAuth: true
    publicNetworkAccess: 'enabled'
  }
}

var roles = {
  indexDataContributor: '8ebe5a00-799e-43f5-93ac-243d3dce84a7'
  serviceContributor: '7ca78c08-252a-4471-8644-bb5ff32d4ba0'
}

resource dataRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(service.id, appsPrincipalId, roles.indexDataContributor)
  scope: service
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.indexDataContributor)
    principalId: appsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Creating/updating the index schema is a service-level operation.
resource schemaRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(service.id, appsPrincipalId, roles.serviceContributor)
  scope: service
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceContributor)
    principalId: appsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = 'https://${service.name}.search.windows.net'
