// bookbridge in Azure: a Python 3.11 Function App on the Flex Consumption plan, reached by ONE
// user-assigned managed identity (storage, Key Vault, Application Insights, Communication Services).
// Deployed with the Azure Developer CLI: `azd up` (see docs/deploy.md). No key, password or connection
// string with a key appears in this template: secrets come in as @secure() parameters, are written to
// Key Vault, and the app reads them through Key Vault references.
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------- where
@minLength(1)
@maxLength(64)
@description('Name of the azd environment: names the resource group and seeds the unique resource names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource; it must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Function app name (part of its URL); default func-bookbridge-<unique token>.')
param functionAppName string = ''

// ------------------------------------------------------------------------------ Microsoft identity
@minLength(36)
@maxLength(36)
@description('Application (client) id of the multi-tenant Entra app registration (docs/deploy.md, step 2).')
param microsoftClientId string

@secure()
@minLength(1)
@description('A client secret of that Entra app. Written to Key Vault; never an app setting in clear.')
param microsoftClientSecret string

// ------------------------------------------------------------------------------ our own secrets
@secure()
@minLength(44)
@description('Comma-separated Fernet keys; the first encrypts, all decrypt. The preprovision hook generates one when unset.')
param tokenEncryptionKeys string

@secure()
@minLength(16)
@description('Key that signs manage tokens and one-time links. The preprovision hook generates one when unset.')
param linkSigningKey string

// ------------------------------------------------------------------------------ behaviour
@description('Public base URL of the app (connect links, manage links, OAuth callbacks); default https://<default host name>.')
param publicBaseUrl string = ''

@description('Comma-separated browser origins allowed to call the public API (\'*\' for any); empty: none.')
param corsAllowedOrigins string = ''

@description('Six-field NCRONTAB schedule of the backfill sweep.')
param backfillSchedule string = '0 */5 * * * *'

// ------------------------------------------------------------------------------ mail
@description('true: send mail with Azure Communication Services Email from an Azure-managed domain; false: through the SMTP relay below.')
param enableAcsEmail bool = true

@description('Where Communication Services keeps its data (when enableAcsEmail).')
param acsDataLocation string = 'United States'

@description('SMTP relay host (when enableAcsEmail is false).')
param smtpHost string = ''

@description('SMTP relay port (when enableAcsEmail is false).')
param smtpPort string = '587'

@description('SMTP user name, if the relay needs one (when enableAcsEmail is false).')
param smtpUsername string = ''

@secure()
@description('SMTP password, if the relay needs one (when enableAcsEmail is false). Written to Key Vault.')
param smtpPassword string = ''

@description('\'true\' to upgrade the SMTP connection with STARTTLS (when enableAcsEmail is false).')
param smtpStartTls string = 'true'

@description('Sender address of every message. Required with SMTP; with ACS empty means DoNotReply@<the Azure-managed domain>.')
param mailFrom string = ''

// ------------------------------------------------------------------------------ scale and safety
@minValue(1)
@maxValue(1000)
@description('Most instances the Flex Consumption plan may scale the app out to.')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory of each Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

@description('Turn on Key Vault purge protection (irreversible; recommended for production).')
param enableKeyVaultPurgeProtection bool = false

// ------------------------------------------------------------------------------ edge protection (optional)
@description('Put Azure Front Door (Standard) with a WAF rate-limit rule in front of the app; the app then only takes traffic from it. Off by default.')
param enableFrontDoor bool = false

@minValue(10)
@maxValue(5000)
@description('With enableFrontDoor: requests per minute one client address may send to the public booking API.')
param frontDoorRateLimitPerMinute int = 100

@description('Object id of the person or principal running azd (azd sets AZURE_PRINCIPAL_ID): gets read access to tables and queues for troubleshooting. Empty: none.')
param operatorPrincipalId string = ''

// ---------------------------------------------------------------------------------------------- names
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'bookbridge'
}
var appName = !empty(functionAppName) ? functionAppName : 'func-bookbridge-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

// Queues and tables of docs/architecture.md (the app also creates them on first use; creating them here
// makes a fresh deployment inspectable at once). tests/unit/test_infra_static.py holds these lists
// against docs/architecture.md.
var queueNames = [
  'meetings'
  'communications'
  'meetings-poison'
  'communications-poison'
  'backfill'
  'webhookevents'
  'webhookdeliveries'
  'webhookdeliveries-poison'
  'hostnotices'
  'inbound'
  'inbound-poison'
]
var tableNames = [
  'workspaces'
  'users'
  'calendars'
  'calendarslugs'
  'connections'
  'tokencaches'
  'authflows'
  'connectlinks'
  'schedule'
  'idempotency'
  'backfillindex'
  'sweepstate'
  'commsent'
  'calendarstats'
  'adminconsents'
  'connectiontransitions'
  'backfillhosts'
  'reconciledue'
  'ratelimits'
  'webhooks'
  'webhookdeliveries'
  'webhookoutbox'
  'graphsubscriptions'
  'eventbookings'
]

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

// The one identity of the app: storage (host and app data), deployment package, Key Vault references,
// Application Insights ingestion and Communication Services all use it.
module appIdentity 'modules/identity.bicep' = {
  name: 'app-identity'
  scope: rg
  params: {
    name: 'id-bookbridge-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stbb${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    queueNames: queueNames
    tableNames: tableNames
    appPrincipalId: appIdentity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: 'kv-bb-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: appIdentity.outputs.principalId
    enablePurgeProtection: enableKeyVaultPurgeProtection
    microsoftClientSecret: microsoftClientSecret
    tokenEncryptionKeys: tokenEncryptionKeys
    linkSigningKey: linkSigningKey
    smtpPassword: enableAcsEmail ? '' : smtpPassword
    storeSmtpPassword: !enableAcsEmail && !empty(smtpPassword)
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-bookbridge-${resourceToken}'
    applicationInsightsName: 'appi-bookbridge-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: appIdentity.outputs.principalId
  }
}

module communication 'modules/communication.bicep' = if (enableAcsEmail) {
  name: 'communication'
  scope: rg
  params: {
    communicationServiceName: 'acs-bookbridge-${resourceToken}'
    emailServiceName: 'ecs-bookbridge-${resourceToken}'
    dataLocation: acsDataLocation
    tags: tags
    appPrincipalId: appIdentity.outputs.principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: appName
    planName: 'plan-bookbridge-${resourceToken}'
    location: location
    tags: tags
    identityResourceId: appIdentity.outputs.resourceId
    identityClientId: appIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    microsoftClientId: microsoftClientId
    microsoftClientSecretUri: keyVault.outputs.microsoftClientSecretUri
    tokenEncryptionKeysUri: keyVault.outputs.tokenEncryptionKeysUri
    linkSigningKeyUri: keyVault.outputs.linkSigningKeyUri
    publicBaseUrl: publicBaseUrl
    corsAllowedOrigins: corsAllowedOrigins
    backfillSchedule: backfillSchedule
    enableAcsEmail: enableAcsEmail
    clientIpHeader: enableFrontDoor ? 'X-Azure-ClientIP' : ''
    acsEndpoint: enableAcsEmail ? communication.outputs.endpoint : ''
    acsSenderAddress: enableAcsEmail ? communication.outputs.senderAddress : ''
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpUsername: smtpUsername
    smtpPasswordSecretUri: keyVault.outputs.smtpPasswordSecretUri
    smtpStartTls: smtpStartTls
    mailFrom: mailFrom
  }
  // No dependsOn needed: the parameters above use outputs of storage, keyVault, monitoring and
  // communication, so those modules (and the role assignments inside them) finish first and the app
  // starts with the access it needs.
}

module frontDoor 'modules/frontdoor.bicep' = if (enableFrontDoor) {
  name: 'frontdoor'
  scope: rg
  params: {
    name: 'afd-bookbridge-${resourceToken}'
    tags: tags
    functionAppName: functionApp.outputs.name
    originHostName: replace(functionApp.outputs.url, 'https://', '')
    rateLimitPerMinute: frontDoorRateLimitPerMinute
  }
}

// ---------------------------------------------------------------------------------------------- outputs
// azd stores these in the environment (.azure/<env>/.env); docs/deploy.md uses them by these names.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = functionApp.outputs.url
output FUNCTION_APP_PUBLIC_BASE_URL string = functionApp.outputs.publicBaseUrl
output MICROSOFT_REDIRECT_URI string = '${functionApp.outputs.publicBaseUrl}/api/auth/microsoft/callback'
output MICROSOFT_ADMIN_CONSENT_REDIRECT_URI string = '${functionApp.outputs.publicBaseUrl}/api/auth/microsoft/admin-consent/callback'
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output KEY_VAULT_NAME string = keyVault.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.logAnalyticsName
output ACS_SENDER_ADDRESS string = enableAcsEmail ? communication.outputs.senderAddress : ''
output FRONT_DOOR_URL string = enableFrontDoor ? frontDoor.outputs.url : ''
