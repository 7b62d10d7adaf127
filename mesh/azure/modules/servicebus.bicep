// Service Bus Premium: one topic per pipeline stage, one session-enabled subscription per
// consumer (sessions keyed by ticket keep a ticket's messages in order), dead-lettering after
// maxDeliveryCount attempts, duplicate detection on publish. Local (SAS) auth is disabled:
// the workloads send/receive with their managed identity; KEDA reads queue depth with its own.
param name string
param location string
param messagingUnits int
param zoneRedundant bool
param appsPrincipalId string
param kedaPrincipalId string
param tags object

@description('Topic -> the subscriptions that consume it (teams and the orchestrator).')
param topology object = {
  'ticket-raw': ['orchestrator']
  'ticket-normalized': ['triage']
  'ticket-triaged': ['shadow', 'orchestrator']
  'ticket-proposed': ['orchestrator']
  'ticket-resolved': ['analytics', 'orchestrator']
}

@description('Delivery attempts before a message is dead-lettered with its reason.')
param maxDeliveryCount int = 5

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Premium', tier: 'Premium', capacity: messagingUnits }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    zoneRedundant: zoneRedundant
    publicNetworkAccess: 'Enabled'
  }
}

resource topics 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = [
  for topic in items(topology): {
    parent: namespace
    name: topic.key
    properties: {
      defaultMessageTimeToLive: 'P14D'
      maxSizeInMegabytes: 5120
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT10M'
      supportOrdering: true
    }
  }
]

var subscriptions = flatten(map(items(topology), t => map(t.value, s => { topic: t.key, name: s })))

resource subs 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = [
  for sub in subscriptions: {
    name: '${name}/${sub.topic}/${sub.name}'
    properties: {
      requiresSession: true
      lockDuration: 'PT1M'
      maxDeliveryCount: maxDeliveryCount
      deadLetteringOnMessageExpiration: true
      deadLetteringOnFilterEvaluationExceptions: true
      defaultMessageTimeToLive: 'P14D'
    }
    dependsOn: [topics]
  }
]

var roles = {
  dataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  dataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  dataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
}

resource appsSend 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, appsPrincipalId, roles.dataSender)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.dataSender)
    principalId: appsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appsReceive 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, appsPrincipalId, roles.dataReceiver)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.dataReceiver)
    principalId: appsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// KEDA's azure-servicebus scaler reads subscription runtime properties: Data Owner is required.
resource kedaOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, kedaPrincipalId, roles.dataOwner)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.dataOwner)
    principalId: kedaPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = namespace.name
output fqdn string = '${namespace.name}.servicebus.windows.net'
