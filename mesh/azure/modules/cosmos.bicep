// Cosmos DB for NoSQL: one database, containers partitioned by tenant (/tenant). Keys and
// key-based metadata writes are disabled: workloads use Entra data-plane RBAC (Built-in Data
// Contributor), which cannot create containers, so every container is declared here.
param name string
param location string
param serverless bool
param autoscaleMaxThroughput int
param zoneRedundant bool
param appsPrincipalId string
param tags object

@description('Containers the documents adapter uses (partition key /tenant).')
param containers array = ['tickets', 'versions', 'events', 'memories', 'agents', 'audit']

param databaseName string = 'omega'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [
      { locationName: location, failoverPriority: 0, isZoneRedundant: zoneRedundant }
    ]
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: { tier: 'Continuous7Days' }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}

// Composite indexes for the keyset pagination each container is queried with.
var compositeIndexes = {
  tickets: [
    [{ path: '/created_at', order: 'descending' }, { path: '/id', order: 'descending' }]
  ]
  events: [
    [{ path: '/created_at', order: 'descending' }, { path: '/id', order: 'descending' }]
    [{ path: '/recorded_ns', order: 'ascending' }, { path: '/id', order: 'ascending' }]
  ]
}

resource containerResources 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [
  for container in containers: {
    parent: database
    name: container
    properties: {
      resource: {
        id: container
        partitionKey: { paths: ['/tenant'], kind: 'Hash' }
        defaultTtl: -1
        // The keyset pages the adapter queries (backends/cosmos/documents.py CONTAINERS).
        indexingPolicy: {
          indexingMode: 'consistent'
          includedPaths: [{ path: '/*' }]
          excludedPaths: [{ path: '/"_etag"/?' }]
          compositeIndexes: compositeIndexes[?container] ?? []
        }
      }
    }
  }
]

// Cosmos DB Built-in Data Contributor (data plane).
resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: account
  name: guid(account.id, appsPrincipalId, 'data-contributor')
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    principalId: appsPrincipalId
    scope: account.id
  }
}

output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
